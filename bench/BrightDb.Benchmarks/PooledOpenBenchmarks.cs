using BenchmarkDotNet.Attributes;
using BrightDb.Npgsql;
using Npgsql;
using Cluster = BrightDb.LocalCluster.LocalCluster;

namespace BrightDb.Benchmarks;

/// <summary>
/// Pooled open (+ <c>SELECT 1</c> when <see cref="Query"/>) + close against a local three-node cluster started for
/// each benchmark case. <see cref="Concurrency"/> tasks share the <see cref="OpsPerInvoke"/> operations of an
/// invocation; the reported time is per operation, so throughput is its inverse.
/// </summary>
[Config(typeof(IoConfig))]
[MemoryDiagnoser]
public class PooledOpenBenchmarks
{
    internal const int OpsPerInvoke = 512;

    Cluster _cluster = null!;
    NpgsqlDataSource _plain = null!;
    NpgsqlDataSource _multiHost = null!;
    BrightDbDataSource _brightDb = null!;
    BrightDbDataSource _brightDbOneNode = null!;
    BrightDbDataSource _brightDbCheckEveryOpen = null!;
    BrightDbDataSource _brightDbShared = null!;
    Func<ValueTask<NpgsqlConnection>> _openPlain = null!;
    Func<ValueTask<NpgsqlConnection>> _openMultiHost = null!;
    Func<ValueTask<NpgsqlConnection>> _openBrightDb = null!;
    Func<ValueTask<NpgsqlConnection>> _openBrightDbOneNode = null!;
    Func<ValueTask<NpgsqlConnection>> _openBrightDbCreateThenOpen = null!;
    Func<ValueTask<NpgsqlConnection>> _openBrightDbCheckEveryOpen = null!;
    Func<ValueTask<NpgsqlConnection>> _openBrightDbShared = null!;

    [Params(1, 64)]
    public int Concurrency { get; set; }

    /// <summary>True: open, <c>SELECT 1</c>, close. False: open and close only, so the driver's own overhead shows.</summary>
    [Params(true, false)]
    public bool Query { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _cluster = Clusters.StartAsync().GetAwaiter().GetResult();
        _plain = NpgsqlDataSource.Create(Clusters.Npgsql(_cluster, [_cluster.Nodes[0]], "bench-plain"));
        _multiHost = NpgsqlDataSource.Create(Clusters.Npgsql(_cluster, _cluster.Nodes, "bench-multihost", "Load Balance Hosts=true"));
        _brightDb = BrightDbDataSource.Create(Clusters.BrightDb(_cluster, "bench-brightdb"));
        _brightDbOneNode = BrightDbDataSource.Create(Clusters.BrightDb(_cluster, "bench-brightdb-one",
            "Topology Keys=aws.us-west.us-west-2a;Fallback To Topology Keys Only=true"));
        _brightDbCheckEveryOpen = BrightDbDataSource.Create(Clusters.BrightDb(_cluster, "bench-brightdb-check", "Host Recheck Seconds=0"));
        // A data source that also created a connection for others (as EF Core does): its opens share the multi-host pools.
        _brightDbShared = BrightDbDataSource.Create(Clusters.BrightDb(_cluster, "bench-brightdb-shared"));
        _brightDbShared.CreateConnection().Dispose();
        if (_multiHost is not NpgsqlMultiHostDataSource)
            throw new InvalidOperationException("expected Npgsql's multi-host data source");
        _openPlain = () => _plain.OpenConnectionAsync();
        _openMultiHost = () => _multiHost.OpenConnectionAsync();
        _openBrightDb = () => _brightDb.OpenConnectionAsync();
        _openBrightDbOneNode = () => _brightDbOneNode.OpenConnectionAsync();
        _openBrightDbCreateThenOpen = CreateThenOpenAsync;
        _openBrightDbCheckEveryOpen = () => _brightDbCheckEveryOpen.OpenConnectionAsync();
        _openBrightDbShared = () => _brightDbShared.OpenConnectionAsync();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        // Where the connections went, for the record: the servers' own counts while the pools are still open.
        var counts = _cluster.GetClientConnectionCountsAsync().GetAwaiter().GetResult();
        Console.WriteLine($"// server connection counts at cleanup: {string.Join(", ", counts.OrderBy(c => c.Key).Select(c => $"node {c.Key}={c.Value}"))}");
        _brightDb.Dispose();
        _brightDbOneNode.Dispose();
        _brightDbCheckEveryOpen.Dispose();
        _brightDbShared.Dispose();
        _multiHost.Dispose();
        _plain.Dispose();
        _cluster.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    /// <summary>Plain <see cref="NpgsqlDataSource"/> on one host.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = OpsPerInvoke)]
    public Task PlainOneHost() => RunAsync(_openPlain);

    /// <summary>Npgsql's <see cref="NpgsqlMultiHostDataSource"/>: <c>Host=h1,h2,h3;Load Balance Hosts=true</c>.</summary>
    [Benchmark(OperationsPerInvoke = OpsPerInvoke)]
    public Task NpgsqlMultiHost() => RunAsync(_openMultiHost);

    /// <summary>This driver, <c>Load Balance Hosts=true</c>, the three servers learned from <c>yb_servers()</c>.</summary>
    [Benchmark(OperationsPerInvoke = OpsPerInvoke)]
    public Task BrightDbBalanced() => RunAsync(_openBrightDb);

    /// <summary>
    /// This driver's whole open path on the baseline's server only (a topology key matching node 1 alone): its own cost,
    /// without the difference between one server and three sharing the same two cores.
    /// </summary>
    [Benchmark(OperationsPerInvoke = OpsPerInvoke)]
    public Task BrightDbOneNode() => RunAsync(_openBrightDbOneNode);

    /// <summary>
    /// This driver as EF Core, Dapper and DI-resolved connections use it: <c>CreateConnection()</c>, then <c>OpenAsync()</c>
    /// on the connection.
    /// </summary>
    [Benchmark(OperationsPerInvoke = OpsPerInvoke)]
    public Task BrightDbCreateThenOpen() => RunAsync(_openBrightDbCreateThenOpen);

    /// <summary>
    /// This driver's <c>OpenConnectionAsync()</c> on a data source that also created a connection for others to open (EF
    /// Core, Dapper, DI): every open then uses each server's multi-host pool instead of its direct pool.
    /// </summary>
    [Benchmark(OperationsPerInvoke = OpsPerInvoke)]
    public Task BrightDbBalancedShared() => RunAsync(_openBrightDbShared);

    /// <summary>
    /// This driver balanced with <c>Host Recheck Seconds=0</c>: Npgsql checks every idle connection before handing it out
    /// (one round trip per open) instead of the default once a second per server with a watch connection per server.
    /// </summary>
    [Benchmark(OperationsPerInvoke = OpsPerInvoke)]
    public Task BrightDbCheckEveryOpen() => RunAsync(_openBrightDbCheckEveryOpen);

    // A failed open ends the benchmark: the connection is not disposed on that path.
    async ValueTask<NpgsqlConnection> CreateThenOpenAsync()
    {
        var connection = _brightDb.CreateConnection();
        await connection.OpenAsync();
        return connection;
    }

    Task RunAsync(Func<ValueTask<NpgsqlConnection>> open)
    {
        if (Concurrency == 1)
            return LoopAsync(open, OpsPerInvoke);
        var tasks = new Task[Concurrency];
        for (var i = 0; i < tasks.Length; i++)
            tasks[i] = LoopAsync(open, OpsPerInvoke / Concurrency);
        return Task.WhenAll(tasks);
    }

    async Task LoopAsync(Func<ValueTask<NpgsqlConnection>> open, int count)
    {
        var query = Query;
        for (var i = 0; i < count; i++)
        {
            var connection = await open();
            if (query)
            {
                await using var command = connection.CreateCommand();
                command.CommandText = "SELECT 1";
                await command.ExecuteScalarAsync();
            }

            await connection.DisposeAsync();
        }
    }
}
