using BrightDb.LocalCluster;
using Npgsql;
using Xunit.Abstractions;

namespace BrightDb.Npgsql.IntegrationTests;

/// <summary>
/// Topology keys through a zone outage: with <c>2a:1,2b:2,2c:3</c>, opens follow the most preferred zone that is up,
/// and return to 2a once it is back.
/// </summary>
[Collection(nameof(Support.TimedCollection))]
public sealed class ZoneOutageTests(ITestOutputHelper output) : IAsyncLifetime
{
    const string Keys = "aws.us-west.us-west-2a:1,aws.us-west.us-west-2b:2,aws.us-west.us-west-2c:3";

    LocalCluster.LocalCluster _cluster = null!;

    public async Task InitializeAsync() =>
        _cluster = await LocalCluster.LocalCluster.StartAsync("aws.us-west.us-west-2a", "aws.us-west.us-west-2b", "aws.us-west.us-west-2c");

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    LocalNode Zone2a => _cluster.Node(1);
    LocalNode Zone2b => _cluster.Node(2);
    LocalNode Zone2c => _cluster.Node(3);

    /// <summary>The <c>Failed Host Reconnect Delay Secs</c> of every data source here.</summary>
    static readonly TimeSpan ReconnectDelay = TimeSpan.FromSeconds(1);

    // Every node is listed, so that the first discovery does not depend on the zone that is down.
    // Hedging is for hung servers: at its 2 s default a loaded test machine can trip it on a healthy server and skew the
    // counts asserted here, so it waits longer (a crashed server refuses at once and is not concerned).
    string ConnectionString(string app, string extra = "") =>
        $"Host={Zone2a.Host},{Zone2b.Host},{Zone2c.Host};Port={Zone2a.Port};Database=bigmath;Username=bigmath;Password={_cluster.Password};" +
        $"Load Balance Hosts=true;Topology Keys={Keys};Pooling=false;Application Name={app};" +
        $"Failed Host Reconnect Delay Secs={ReconnectDelay.TotalSeconds};Hedged Open Delay=10000;{extra}";

    static async Task<List<NpgsqlConnection>> OpenAsync(BrightDbDataSource ds, int count)
    {
        var held = new List<NpgsqlConnection>();
        for (var i = 0; i < count; i++)
            held.Add(await ds.OpenConnectionAsync());
        return held;
    }

    /// <summary>Opens <paramref name="count"/> connections one after the other, timing each open.</summary>
    static async Task<(List<NpgsqlConnection> Connections, List<TimeSpan> Durations)> OpenTimedAsync(BrightDbDataSource ds, int count)
    {
        var held = new List<NpgsqlConnection>();
        var durations = new List<TimeSpan>();
        for (var i = 0; i < count; i++)
        {
            var watch = System.Diagnostics.Stopwatch.StartNew();
            held.Add(await ds.OpenConnectionAsync());
            durations.Add(watch.Elapsed);
        }

        return (held, durations);
    }

    /// <summary>
    /// Waits out the reconnect delay of a server that failed before now: the delay passing is what the caller's next
    /// step is about (a server marked down is skipped until then, and probed by the next open after), so it is a wait
    /// for the delay itself, not for a state to settle. Every failure of the server happened before this call, so one
    /// delay from now is enough; 100 ms more covers the granularity of the timers.
    /// </summary>
    static Task WaitOutReconnectDelayAsync() => Task.Delay(ReconnectDelay + TimeSpan.FromMilliseconds(100));

    static string DriverLog(LogRecorder logs) =>
        string.Join("\n", logs.Entries.Where(e => e.Category.StartsWith("BrightDb.Npgsql.", StringComparison.Ordinal)));

    /// <summary>Every connection is on <paramref name="node"/>; on failure the driver's log tells why one went elsewhere.</summary>
    static void AssertAllOn(IEnumerable<NpgsqlConnection> connections, LocalNode node, LogRecorder logs)
    {
        var hosts = connections.Select(c => c.Host).ToList();
        Assert.True(hosts.All(h => h == node.Host), $"expected all on {node.Host}, got {string.Join(", ", hosts)}\n{DriverLog(logs)}");
    }

    /// <summary>
    /// The servers' counts of <paramref name="app"/>, once settled: a refresh started by a failover briefly holds a
    /// connection of its own, and backends exit asynchronously.
    /// </summary>
    async Task AssertServerCountsAsync(string app, int on2a, int on2b, int on2c)
    {
        string Describe(int? a, int? b, int? c) => $"2a={a} 2b={b} 2c={c}";
        var expected = Describe(
            Zone2a.State == NodeState.Running ? on2a : null, Zone2b.State == NodeState.Running ? on2b : null, Zone2c.State == NodeState.Running ? on2c : null);
        var actual = "";
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(10))
        {
            var counts = await _cluster.GetClientConnectionCountsAsync(app);
            actual = Describe(counts.TryGetValue(1, out var a) ? a : null, counts.TryGetValue(2, out var b) ? b : null, counts.TryGetValue(3, out var c) ? c : null);
            if (actual == expected)
                break;
            await Task.Delay(100);
        }

        Assert.Equal(expected, actual);
    }

    async Task RestoreAsync()
    {
        foreach (var node in new[] { Zone2a, Zone2b, Zone2c })
        {
            if (node.State == NodeState.Paused)
                await _cluster.ResumeNodeAsync(node.Index);
            else if (node.State != NodeState.Running)
                await _cluster.StartNodeAsync(node.Index);
        }
    }

    [Fact]
    public async Task Killed_zones_fail_over_in_key_order_and_opens_return_to_2a_when_it_is_back()
    {
        var app = "zone-kill";
        var logs = new LogRecorder(output);
        await using var ds = new BrightDbDataSourceBuilder(ConnectionString(app)).UseLoggerFactory(logs).Build();
        var held = new List<NpgsqlConnection>();
        try
        {
            var on2a = await OpenAsync(ds, 4);
            held.AddRange(on2a);
            AssertAllOn(on2a, Zone2a, logs);
            await AssertServerCountsAsync(app, 4, 0, 0);

            await _cluster.KillNodeAsync(Zone2a.Index);
            var on2b = await OpenAsync(ds, 4);
            held.AddRange(on2b);
            AssertAllOn(on2b, Zone2b, logs);
            await AssertServerCountsAsync(app, 0, 4, 0);
            Assert.Equal(4, ClusterWaits.MapCount(ds, Zone2b.Host));

            await _cluster.KillNodeAsync(Zone2b.Index);
            var on2c = await OpenAsync(ds, 4);
            held.AddRange(on2c);
            AssertAllOn(on2c, Zone2c, logs);
            await AssertServerCountsAsync(app, 0, 0, 4);

            // The connections of the crashed servers are closed by the application.
            foreach (var c in on2a.Concat(on2b))
                await c.DisposeAsync();
            Assert.Equal(0, ClusterWaits.MapCount(ds, Zone2a.Host));
            Assert.Equal(0, ClusterWaits.MapCount(ds, Zone2b.Host));

            // 2a is back (it accepts connections once started): after the reconnect delay and a refresh, new connections
            // go to it again.
            await _cluster.StartNodeAsync(Zone2a.Index);
            await WaitOutReconnectDelayAsync();
            await ds.RefreshTopologyAsync();
            var back = await OpenAsync(ds, 4);
            held.AddRange(back);
            AssertAllOn(back, Zone2a, logs);
            await AssertServerCountsAsync(app, 4, 0, 4);
            Assert.Equal(4, ClusterWaits.MapCount(ds, Zone2a.Host));
            Assert.Equal(4, ClusterWaits.MapCount(ds, Zone2c.Host));
        }
        finally
        {
            foreach (var c in held)
                await c.DisposeAsync();
            await RestoreAsync();
        }
    }

    [Fact]
    public async Task Pooled_after_2a_crashes_no_open_is_handed_a_dead_connection_and_opens_go_to_2b()
    {
        var app = "zone-kill-pooled";
        var logs = new LogRecorder(output);
        await using var ds = new BrightDbDataSourceBuilder(ConnectionString(app).Replace("Pooling=false", "Pooling=true", StringComparison.Ordinal))
            .UseLoggerFactory(logs).Build();
        var held = new List<NpgsqlConnection>();
        try
        {
            // Four connections used on 2a and returned: they idle in its pool.
            var on2a = await OpenAsync(ds, 4);
            AssertAllOn(on2a, Zone2a, logs);
            foreach (var c in on2a)
            {
                await using (var command = new NpgsqlCommand("select 1", c))
                    await command.ExecuteScalarAsync();
                await c.DisposeAsync();
            }

            await ClusterWaits.ServerCountBecomesAsync(_cluster, app, Zone2a, 4);

            // 2a crashes while its four connections idle in the pool. No open may be handed one of them: every connection
            // handed out works, and they are all on 2b, the next zone of the keys.
            await _cluster.KillNodeAsync(Zone2a.Index);
            var outcomes = new List<string>();
            for (var i = 0; i < 5; i++)
            {
                var c = await ds.OpenConnectionAsync();
                held.Add(c);
                // Read before use: a connection that breaks forgets its host.
                var host = c.Host;
                await using var command = new NpgsqlCommand("select 1", c);
                var failure = await Record.ExceptionAsync(() => command.ExecuteScalarAsync());
                outcomes.Add($"{host}:{(failure is null ? "ok" : "failed")}");
            }

            Assert.True(
                outcomes.SequenceEqual(Enumerable.Repeat($"{Zone2b.Host}:ok", 5)),
                $"opens after 2a crashed: {string.Join(", ", outcomes)}\n{DriverLog(logs)}");
            // The five held connections are all 2b has from this data source, as its server counts them and as the map
            // does: nothing else (a refresh's connection, say) stays behind there.
            await ClusterWaits.UntilAsync(async () => await ClusterWaits.ServerCountAsync(_cluster, app, Zone2b) == 5,
                "2b's server count of the data source's connections to be 5");
            Assert.Equal(5, ClusterWaits.MapCount(ds, Zone2b.Host));
            Assert.Equal(0, ClusterWaits.MapCount(ds, Zone2a.Host));
            Assert.Equal(0, ClusterWaits.MapCount(ds, Zone2c.Host));
        }
        finally
        {
            foreach (var c in held)
                await c.DisposeAsync();
            await RestoreAsync();
        }
    }

    /// <summary>The <c>Timeout</c> of the paused-zones test: what an open would wait on a hung server without hedging.</summary>
    static readonly TimeSpan PausedTimeout = TimeSpan.FromSeconds(10);

    /// <summary>The <c>Hedged Open Delay</c> of the paused-zones test: what a hung server may cost an open.</summary>
    static readonly TimeSpan PausedHedgeDelay = TimeSpan.FromMilliseconds(1500);

    /// <summary>Time a healthy server's open may take on a loaded machine (slow handshakes, timers firing late).</summary>
    static readonly TimeSpan OpenMargin = TimeSpan.FromSeconds(3);

    /// <summary>
    /// Each open took at most one hedge delay per hung server it may meet, plus <see cref="OpenMargin"/>: a bound that
    /// stays below a Timeout, so that an open that waited out a Timeout on a hung server fails it.
    /// </summary>
    static void AssertEachOpenWithinHedgeDelays(List<TimeSpan> durations, int hungServers, LogRecorder logs)
    {
        var bound = hungServers * PausedHedgeDelay + OpenMargin;
        Assert.True(bound < PausedTimeout, "the bound must tell a hedged open from one that waited a Timeout");
        Assert.True(durations.All(d => d <= bound),
            $"with {hungServers} zone(s) hung, each open must take at most {bound.TotalSeconds} s ({hungServers} hedge delay(s) + margin); " +
            $"they took {string.Join(", ", durations.Select(d => $"{d.TotalSeconds:0.000} s"))}\n{DriverLog(logs)}");
    }

    [Fact]
    public async Task Paused_zones_fail_over_in_key_order_and_opens_return_to_2a_when_it_resumes()
    {
        var app = "zone-pause";
        var logs = new LogRecorder(output);
        await using var ds = new BrightDbDataSourceBuilder(ConnectionString(app, $"Timeout={PausedTimeout.TotalSeconds};Hedged Open Delay={PausedHedgeDelay.TotalMilliseconds}"))
            .UseLoggerFactory(logs).Build();
        var held = new List<NpgsqlConnection>();
        try
        {
            var on2a = await OpenAsync(ds, 2);
            held.AddRange(on2a);
            AssertAllOn(on2a, Zone2a, logs);

            // A hung server costs an open at most one hedge delay, never a Timeout.
            await _cluster.PauseNodeAsync(Zone2a.Index);
            var (on2b, past2a) = await OpenTimedAsync(ds, 4);
            held.AddRange(on2b);
            AssertAllOn(on2b, Zone2b, logs);
            AssertEachOpenWithinHedgeDelays(past2a, hungServers: 1, logs);

            // Two zones hung: an open may meet both (2a probed once its reconnect delay has passed, then 2b), one hedge
            // delay each.
            await _cluster.PauseNodeAsync(Zone2b.Index);
            var (on2c, past2a2b) = await OpenTimedAsync(ds, 4);
            held.AddRange(on2c);
            AssertAllOn(on2c, Zone2c, logs);
            await ClusterWaits.ServerCountBecomesAsync(_cluster, app, Zone2c, 4);
            AssertEachOpenWithinHedgeDelays(past2a2b, hungServers: 2, logs);

            await _cluster.ResumeNodeAsync(Zone2a.Index);
            await WaitOutReconnectDelayAsync();
            await ds.RefreshTopologyAsync();
            var back = await OpenAsync(ds, 4);
            held.AddRange(back);
            AssertAllOn(back, Zone2a, logs);
            // The two connections held from before the pause plus the four new ones (the open abandoned on the hung
            // server completes once it resumes and is closed at once, so wait for the count to settle).
            await ClusterWaits.ServerCountBecomesAsync(_cluster, app, Zone2a, 6);
        }
        finally
        {
            foreach (var c in held)
                await c.DisposeAsync();
            await RestoreAsync();
        }
    }
}
