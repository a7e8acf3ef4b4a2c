using System.Diagnostics;
using System.Globalization;
using BrightDb.LocalCluster;
using BrightDb.Npgsql.IntegrationTests.Support;
using Xunit.Abstractions;
using Cluster = BrightDb.LocalCluster.LocalCluster;

namespace BrightDb.Npgsql.IntegrationTests;

/// <summary>
/// Balance across processes when the cluster reports its connections (<c>num_connections</c> of <c>yb_servers()</c>, true
/// counts from a local cluster made with <see cref="LocalClusterOptions.ReportConnections"/>): ten OS processes that each hold
/// one connection end even when they start one after another, and spread at least as well as without reports when they
/// start at the same moment. The processes are the balance benchmark's workers; each trial gives each a new data source,
/// whose first open discovers the cluster (and reads its counts) like a process that just started. Pooled (the default);
/// the unpooled cases gave the same figures (docs/benchmarks.md) and are left out to keep the suite's time. The class runs
/// alone: ten processes compiling their open path starve any neighbour on two cores.
/// </summary>
[Collection(nameof(Support.TimedCollection))]
public sealed class ClusterWideBalanceTests(ITestOutputHelper output) : IAsyncLifetime
{
    const int Processes = 10;
    const int Trials = 20;

    /// <summary>Started one after another: max − min ≤ 1 across the nodes in at least 90 % of the trials.</summary>
    const int EvenTrialsRequired = 18;

    /// <summary>Started together: no node above twice the mean in at least 85 % of the trials, as without reports.</summary>
    const int SpreadTrialsRequired = 17;

    const double MaxPerNode = 2.0 * Processes / 3;

    Cluster _cluster = null!;

    public async Task InitializeAsync() =>
        _cluster = await Cluster.StartAsync(new LocalClusterOptions
        {
            Nodes = [.. new[] { "aws.us-west.us-west-2a", "aws.us-west.us-west-2b", "aws.us-west.us-west-2c" }.Select(p => new NodeSpec(Placement.Parse(p)))],
            ReportConnections = true,
        });

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Theory]
    [InlineData(true)]
    public async Task Ten_processes_started_one_after_another_end_even(bool pooling)
    {
        var spreads = await RunTrialsAsync(pooling, together: false);
        var even = spreads.Count(c => c.Max() - c.Min() <= 1);
        Assert.True(even >= EvenTrialsRequired,
            $"{even} of {Trials} trials with max - min <= 1, {EvenTrialsRequired} required; servers' counts per trial: {Describe(spreads)}");
    }

    [Theory]
    [InlineData(true)]
    public async Task Ten_processes_started_together_spread_as_well_as_without_reports(bool pooling)
    {
        var spreads = await RunTrialsAsync(pooling, together: true);
        var good = spreads.Count(c => c.Max() <= MaxPerNode);
        Assert.True(good >= SpreadTrialsRequired,
            $"{good} of {Trials} trials with no node above twice the mean, {SpreadTrialsRequired} required; servers' counts per trial: {Describe(spreads)}");
    }

    /// <summary>The servers' counts of each trial.</summary>
    async Task<List<int[]>> RunTrialsAsync(bool pooling, bool together)
    {
        var prefix = $"wide-{(together ? "together" : "sequence")}-{EveryPath.Mode(pooling)}-";
        // Ten cold processes compiling their open path on two cores while the others refresh every second can take longer than
        // the default Timeout: this test is about where connections go, not how fast.
        var connectionString = EveryPath.ConnectionString(_cluster, prefix + "{trial}", pooling, extra: "YB Servers Refresh Interval=1;Timeout=60");
        var worker = BalanceWorkers.Assembly();
        var processes = new List<Process>();
        var spreads = new List<int[]>();
        try
        {
            for (var i = 0; i < Processes; i++)
                processes.Add(BalanceWorkers.Start(worker, connectionString, Trials + 1));
            // Trial 1 warms the processes up (each opens and closes once, one after another) and is not counted.
            for (var trial = 1; trial <= Trials + 1; trial++)
            {
                foreach (var process in processes)
                    await BalanceWorkers.ExpectAsync(process, "ready", trial);
                if (together && trial > 1)
                {
                    foreach (var process in processes)
                        await process.StandardInput.WriteLineAsync("go");
                    foreach (var process in processes)
                        await BalanceWorkers.ExpectAsync(process, "open", trial);
                }
                else
                {
                    // Each process starts (discovers the cluster and opens) once the previous one holds its connection.
                    foreach (var process in processes)
                    {
                        await process.StandardInput.WriteLineAsync("go");
                        await BalanceWorkers.ExpectAsync(process, "open", trial);
                    }
                }

                var servers = await EveryPath.ServersWithTotalEventuallyAsync(_cluster, prefix + trial, Processes);
                var counts = servers.Split('/').Select(c => int.Parse(c, CultureInfo.InvariantCulture)).ToArray();
                Assert.True(counts.Sum() == Processes, $"trial {trial}: the servers count {servers}, not {Processes} connections in all");
                if (trial > 1)
                    spreads.Add(counts);
                output.WriteLine($"trial {trial}: {servers}");

                foreach (var process in processes)
                    await process.StandardInput.WriteLineAsync("close");
                // The next trial starts from an empty cluster, as its processes would: the servers' counts of this one drain first.
                var left = await EveryPath.ServersWithTotalEventuallyAsync(_cluster, prefix + trial, 0);
                Assert.True(left.Split('/').All(c => c == "0"), $"trial {trial}: connections left on the servers after closing: {left}");
            }

            await BalanceWorkers.ExpectCleanExitsAsync(processes);
        }
        finally
        {
            BalanceWorkers.KillAndDispose(processes);
        }

        return spreads;
    }

    static string Describe(List<int[]> spreads) =>
        string.Join(", ", spreads.Select(c => string.Join('/', c)).GroupBy(s => s).OrderByDescending(g => g.Count()).Select(g => $"{g.Key} x{g.Count()}"));
}
