using System.Data.Common;
using System.Diagnostics;
using BrightDb.LocalCluster;
using BrightDb.Npgsql.IntegrationTests.Support;
using Xunit.Abstractions;
using Cluster = BrightDb.LocalCluster.LocalCluster;

namespace BrightDb.Npgsql.IntegrationTests;

/// <summary>
/// One time budget per open: whatever number of servers an open tries, waits for or hedges, it ends within <c>Timeout</c>
/// (plus a small margin for the machine), and when it fails its error names each server it tried.
/// </summary>
[Collection(nameof(Support.TimedCollection))]
public sealed class OpenBudgetTests(ThreeZonesClusterFixture fixture, ITestOutputHelper output) : IClassFixture<ThreeZonesClusterFixture>
{
    /// <summary>The margin over <c>Timeout</c> an open may take: timers firing and the machine being busy, not another attempt.</summary>
    static readonly TimeSpan Margin = TimeSpan.FromMilliseconds(500);

    static readonly TimeSpan Budget = TimeSpan.FromSeconds(3);

    Cluster Cluster => fixture.Cluster;

    /// <summary>The ways an application opens a connection, each on a data source of its own.</summary>
    public static TheoryData<string> Paths => ["OpenConnection", "OpenConnectionAsync", "CreateConnection+Open", "CreateConnection+OpenAsync"];

    /// <summary>Whether the driver opens the connection itself (and words the error), rather than Npgsql's <c>Open</c>.</summary>
    static bool DriverOpens(string path) => path.StartsWith("OpenConnection", StringComparison.Ordinal);

    static async Task<DbConnection> OpenAsync(BrightDbDataSource ds, string path)
    {
        switch (path)
        {
            case "OpenConnection":
                return ds.OpenConnection();
            case "OpenConnectionAsync":
                return await ds.OpenConnectionAsync();
            case "CreateConnection+Open":
            {
                var connection = ds.CreateConnection();
                connection.Open();
                return connection;
            }

            default:
            {
                var connection = ds.CreateConnection();
                await connection.OpenAsync();
                return connection;
            }
        }
    }

    /// <summary>Times an open by <paramref name="path"/> (<see cref="TimedOpen"/>): an asynchronous one on the thread pool, a synchronous one on the test's thread.</summary>
    static Task<(TimeSpan Elapsed, DbConnection? Connection, Exception? Error)> TimedOpenAsync(BrightDbDataSource ds, string path) =>
        TimedOpen.RunAsync(() => OpenAsync(ds, path), onThreadPool: path.EndsWith("Async", StringComparison.Ordinal));

    /// <summary>
    /// An open on a fresh data source that may use only nodes 2 and 3 (both silent here): it must fail; returns how long it
    /// took and its error, having written <paramref name="describe"/>'s line. Measured again, once, when the process stalled
    /// at least as long as the open's excess over Timeout + margin (<see cref="MachineStalls"/>).
    /// </summary>
    async Task<(TimeSpan Elapsed, Exception Error, string Stalls)> FailingOpenOnlyOn2bAnd2cAsync(string app, string path, Func<double, string, string, string> describe)
    {
        for (var attempt = 1; ; attempt++)
        {
            var mark = MachineStalls.Mark();
            await using var ds = Counts.Create(EveryPath.ConnectionString(Cluster, $"{app}-{attempt}", pooling: false, hedgedOpenDelay: 2000,
                extra: $"Timeout={Budget.TotalSeconds};Topology Keys={EveryPath.Zone2b},{EveryPath.Zone2c};Fallback To Topology Keys Only=true"));
            var clock = Stopwatch.StartNew();
            var events = new System.Collections.Concurrent.ConcurrentQueue<string>();
            ds.HostMarkedDown += (_, e) => events.Enqueue($"{clock.Elapsed.TotalSeconds:F2} s down {e.Host}: {e.Reason}");
            var (elapsed, connection, error) = await TimedOpenAsync(ds, path);
            if (connection is not null)
            {
                await connection.DisposeAsync();
                Assert.Fail($"{path} opened a connection to {connection.DataSource} although only silent servers were eligible");
            }

            Assert.NotNull(error);
            output.WriteLine($"{describe(elapsed.TotalSeconds, error.Message, string.Join(" | ", events))} ({MachineStalls.Describe(mark)})");
            if (attempt > 1 || !MachineStalls.Explain(mark, elapsed - (Budget + Margin), output.WriteLine))
                return (elapsed, error, MachineStalls.Describe(mark));
        }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public async Task Two_of_three_nodes_silent_each_open_ends_within_Timeout(string path)
    {
        var app = "budget-" + path.Replace('+', '-').ToLowerInvariant();
        var silent = new[] { Cluster.Nodes[1], Cluster.Nodes[2] };
        foreach (var node in silent)
            await Cluster.PauseNodeAsync(node.Index);
        try
        {
            var verdict = new Verdict();
            var figures = new List<string>();
            var retried = false;
            // Five fresh data sources: each first open chooses among the three servers knowing nothing of the silent two.
            for (var i = 0; i < 5; i++)
            {
                var mark = MachineStalls.Mark();
                await using var ds = Counts.Create(EveryPath.ConnectionString(Cluster, $"{app}-{i}", pooling: false, hedgedOpenDelay: 2000,
                    extra: $"Timeout={Budget.TotalSeconds}"));
                var (elapsed, opened, error) = await TimedOpenAsync(ds, path);
                if (opened is not null)
                {
                    await using var connection = opened;
                    await EveryPath.SelectOneAsync(connection);
                    figures.Add($"#{i} opened in {elapsed.TotalSeconds:F2} s");
                }
                else if (error is { } e)
                {
                    figures.Add($"#{i} failed in {elapsed.TotalSeconds:F2} s: {e.Message}");
                    // A failed open names both silent servers among those it tried (the driver's own opens: on the
                    // CreateConnection path the error is Npgsql's).
                    foreach (var node in DriverOpens(path) ? silent : [])
                        verdict.Check(e.Message.Contains($"{node.Host}:{node.Port}", StringComparison.Ordinal), $"#{i}: error does not name {node.Host}: {e.Message}");
                }

                if (!retried && MachineStalls.Explain(mark, elapsed - (Budget + Margin), why => figures.Add($"#{i} took {elapsed.TotalSeconds:F2} s: {why}")))
                {
                    retried = true;
                    i--;
                    continue;
                }

                verdict.Check(elapsed < Budget + Margin,
                    $"#{i} took {elapsed.TotalSeconds:F2} s, over Timeout ({Budget.TotalSeconds} s) + {Margin.TotalMilliseconds} ms ({MachineStalls.Describe(mark)})");
            }

            output.WriteLine($"{path}, nodes 2 and 3 silent, Timeout={Budget.TotalSeconds}: {string.Join("; ", figures)}");
            verdict.Assert();
        }
        finally
        {
            await EveryPath.RestoreAsync(Cluster);
        }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public async Task Only_silent_servers_eligible_the_open_fails_within_Timeout_naming_each(string path)
    {
        var app = "budget-only-" + path.Replace('+', '-').ToLowerInvariant();
        var silent = new[] { Cluster.Nodes[1], Cluster.Nodes[2] };
        foreach (var node in silent)
            await Cluster.PauseNodeAsync(node.Index);
        try
        {
            var (elapsed, error, stalls) = await FailingOpenOnlyOn2bAnd2cAsync(app, path,
                (seconds, message, events) => $"{path}, only nodes 2 and 3 eligible and both silent, Timeout={Budget.TotalSeconds}: failed in {seconds:F2} s: {message}; events: {events}");

            var verdict = new Verdict();
            verdict.Check(elapsed < Budget + Margin, $"took {elapsed.TotalSeconds:F2} s, over Timeout ({Budget.TotalSeconds} s) + {Margin.TotalMilliseconds} ms ({stalls})");
            foreach (var node in DriverOpens(path) ? silent : [])
                verdict.Check(error.Message.Contains($"{node.Host}:{node.Port}", StringComparison.Ordinal), $"error does not name {node.Host}: {error.Message}");
            verdict.Assert();
        }
        finally
        {
            await EveryPath.RestoreAsync(Cluster);
        }
    }

    /// <summary>
    /// The first open of a data source waits for the discovery: a slow <c>yb_servers()</c> (1.5 s of a 3 s Timeout) leaves
    /// the first attempt, on silent servers, only the rest; the open as a whole still ends within Timeout.
    /// </summary>
    [Theory]
    [InlineData("OpenConnection")]
    [InlineData("OpenConnectionAsync")]
    public async Task A_slow_discovery_is_part_of_the_first_opens_Timeout(string path)
    {
        var app = "budget-slow-discovery-" + path.ToLowerInvariant();
        var silent = new[] { Cluster.Nodes[1], Cluster.Nodes[2] };
        foreach (var node in silent)
            await Cluster.PauseNodeAsync(node.Index);
        await Cluster.SetYbServersBehaviorAsync(YbServersBehavior.Slow(TimeSpan.FromMilliseconds(1500)));
        try
        {
            var (elapsed, error, stalls) = await FailingOpenOnlyOn2bAnd2cAsync(app, path,
                (seconds, message, _) => $"{path}, yb_servers() 1.5 s, nodes 2 and 3 silent, Timeout={Budget.TotalSeconds}: failed in {seconds:F2} s: {message}");
            Assert.True(elapsed < Budget + Margin, $"took {elapsed.TotalSeconds:F2} s, over Timeout ({Budget.TotalSeconds} s) + {Margin.TotalMilliseconds} ms ({stalls}): {error.Message}");
        }
        finally
        {
            await Cluster.SetYbServersBehaviorAsync(YbServersBehavior.Normal);
            await EveryPath.RestoreAsync(Cluster);
        }
    }
}
