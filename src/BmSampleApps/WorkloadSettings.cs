namespace BmSampleApps;

/// <summary>What one run does: the workload, where, with how many threads, for how long.</summary>
/// <param name="Workload">The workload's name (SqlInserts, SqlUpdates, SqlSecondaryIndex).</param>
/// <param name="ConnectionString">The driver's connection string, built from the options.</param>
/// <param name="ReadThreads">Threads reading.</param>
/// <param name="WriteThreads">Threads writing.</param>
/// <param name="UniqueKeys">How many keys the writers write (then write again, for the updating workloads).</param>
/// <param name="Duration">How long to run; <see cref="TimeSpan.Zero"/> until Ctrl-C.</param>
/// <param name="CsvPath">Where to write the per-second series, or <see langword="null"/>.</param>
/// <param name="Table">The table's name on every node.</param>
sealed record WorkloadSettings(
    string Workload, string ConnectionString, int ReadThreads, int WriteThreads, long UniqueKeys, TimeSpan Duration, string? CsvPath, string Table);
