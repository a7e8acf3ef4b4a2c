using System.Globalization;
using BmSampleApps;
using BmSampleApps.Running;
using BrightDb.LocalCluster;
using Npgsql;
using Xunit.Abstractions;

namespace BrightDb.Npgsql.IntegrationTests;

/// <summary>
/// bm-sample-apps on a cluster laid out as the tutorial's (us-west-2a twice, us-west-2b): short forms of its workloads,
/// their summaries checked against the rows the servers hold. The balance of operations per node is a share of the work
/// measured over seconds, so the class runs alone.
/// </summary>
[Collection(nameof(Support.TimedCollection))]
public sealed class SampleAppsTests(ITestOutputHelper output) : IAsyncLifetime
{
    LocalCluster.LocalCluster _cluster = null!;

    public async Task InitializeAsync() =>
        _cluster = await LocalCluster.LocalCluster.StartAsync("aws.us-west.us-west-2a", "aws.us-west.us-west-2a", "aws.us-west.us-west-2b");

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    async Task<RunResult> RunAsync(string[] args, Func<RunResult, Task>? during = null, Func<Task>? meanwhile = null)
    {
        var error = new StringWriter();
        var (settings, exitCode) = await Cli.PrepareAsync(args, TextWriter.Null, error, CancellationToken.None);
        Assert.True(settings is not null, $"exit {exitCode}: {error}");
        var lines = new List<string>();
        var run = new WorkloadRunner(settings).RunAsync((second, connections) => lines.Add(
            string.Create(CultureInfo.InvariantCulture, $"{second.Number}s reads {second.Reads} writes {second.Writes} failed {second.Failed} ops ") +
            string.Join(" ", second.OpsByNode.OrderBy(n => n.Key, StringComparer.Ordinal).Select(n => $"{n.Key}:{n.Value}")) +
            " connections " + string.Join(" ", connections.OrderBy(n => n.Key, StringComparer.Ordinal).Select(n => $"{n.Key}:{n.Value}"))), CancellationToken.None);
        if (meanwhile is not null)
            await meanwhile();
        var result = await run;
        foreach (var line in lines)
            output.WriteLine(line);
        var summary = new StringWriter();
        LiveView.WriteSummary(Spectre.Console.AnsiConsole.Create(new Spectre.Console.AnsiConsoleSettings { Out = new Spectre.Console.AnsiConsoleOutput(summary), Ansi = Spectre.Console.AnsiSupport.No }), result);
        output.WriteLine(summary.ToString());
        Assert.Contains("Summary: ", summary.ToString(), StringComparison.Ordinal);
        return result;
    }

    string[] Args(string workload, int seconds, params string[] more) =>
    [
        "--workload", workload, "--nodes", $"{_cluster.Node(1).Host}:{_cluster.Node(1).Port}", "--password", _cluster.Password,
        "--duration", seconds.ToString(CultureInfo.InvariantCulture), "--num_threads_write", "4", "--num_threads_read", "8",
        "--property", "Hedged Open Delay=10000", .. more,
    ];

    async Task<long> RowsAsync(LocalNode node, string table)
    {
        await using var connection = new NpgsqlConnection(
            $"Host={node.Host};Port={node.Port};Database=bigmath;Username=bigmath;Password={_cluster.Password};Pooling=false");
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"select count(*) from {table}", connection);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task SqlInserts_spreads_its_operations_evenly_and_its_summary_matches_the_servers()
    {
        var result = await RunAsync(Args("SqlInserts", 20));
        var nodes = _cluster.Nodes.Select(n => result.Totals.Nodes.GetValueOrDefault(n.Host)).ToList();
        Assert.All(nodes, n => Assert.NotNull(n));
        Assert.Equal(0, result.Totals.Failed);
        var ops = nodes.Select(n => n!.Ops).ToList();
        Assert.True(ops.Max() - ops.Min() <= 0.10 * ops.Max(), $"operations per node {string.Join('/', ops)} are not within 10% of each other");
        foreach (var node in _cluster.Nodes)
            Assert.Equal(result.Totals.Nodes[node.Host].RowsAdded, await RowsAsync(node, "bm_sqlinserts"));
        Assert.True(result.Totals.Reads > 0 && result.Totals.Writes > 0);
    }

    [Fact]
    public async Task With_the_topology_key_of_us_west_2a_node_3_serves_nothing()
    {
        var result = await RunAsync(Args("SqlSecondaryIndex", 4, "--topology_keys", "aws.us-west.us-west-2a"));
        Assert.Equal(0, result.Totals.Failed);
        Assert.False(result.Totals.Nodes.ContainsKey(_cluster.Node(3).Host), $"node 3 served operations: {string.Join(", ", result.Totals.Nodes.Keys)}");
        Assert.True(result.Totals.Nodes[_cluster.Node(1).Host].Ops > 0 && result.Totals.Nodes[_cluster.Node(2).Host].Ops > 0);
        foreach (var node in _cluster.Nodes.Take(2))
            Assert.Equal(result.Totals.Nodes[node.Host].RowsAdded, await RowsAsync(node, "bm_sqlsecondaryindex"));
    }

    /// <summary>
    /// Node 2 killed 3 s into an 8 s run: the run finishes, its failed operations are all on node 2 (those in flight
    /// there), and from the second after the kill on every operation succeeds on nodes 1 and 3.
    /// </summary>
    [Fact]
    public async Task A_node_killed_in_the_middle_fails_only_the_operations_on_it()
    {
        var killed = _cluster.Node(2);
        var result = await RunAsync(Args("SqlUpdates", 8, "--num_unique_keys", "1000"), meanwhile: async () =>
        {
            await Task.Delay(TimeSpan.FromSeconds(3));
            await _cluster.KillNodeAsync(killed.Index);
        });
        var failedOn = result.Totals.Nodes.Where(n => n.Value.Failed > 0).Select(n => n.Key).ToList();
        Assert.All(failedOn, node => Assert.Equal(killed.Host, node));
        var afterKill = result.Seconds.Where(s => s.Number >= 6).ToList();
        Assert.NotEmpty(afterKill);
        Assert.All(afterKill, s => Assert.Equal(0, s.Failed));
        Assert.All(afterKill, s => Assert.Equal(0, s.OpsByNode.GetValueOrDefault(killed.Host)));
        Assert.All(afterKill.Where(s => s.Number < afterKill.Max(a => a.Number)), s => Assert.True(s.Reads + s.Writes > 0, $"second {s.Number} had no operation"));
        Assert.True(result.Totals.Nodes[_cluster.Node(1).Host].Ops > 0 && result.Totals.Nodes[_cluster.Node(3).Host].Ops > 0);
    }
}
