using System.Diagnostics;
using BrightDb.LocalCluster;
using Npgsql;

namespace BrightDb.Npgsql.IntegrationTests;

/// <summary>Crashed, hung and returning servers: opens go elsewhere at once, one probe per recovery, nothing leaks.</summary>
[Collection(nameof(Support.TimedCollection))]
public sealed class FailoverTests : IAsyncLifetime
{
    LocalCluster.LocalCluster _cluster = null!;

    public async Task InitializeAsync() =>
        _cluster = await LocalCluster.LocalCluster.StartAsync("aws.us-west.us-west-2a", "aws.us-west.us-west-2b", "aws.us-west.us-west-2c");

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    /// <summary>The <c>Failed Host Reconnect Delay Secs</c> of the data sources here, unless a test sets its own.</summary>
    static readonly TimeSpan ReconnectDelay = TimeSpan.FromSeconds(2);

    // Hedging is for hung servers: at its 2 s default a loaded test machine can trip it on a healthy server and skew the
    // counts asserted here, so it waits longer unless it is the subject (a crashed server refuses at once and is not
    // concerned). A later keyword in extra overrides an earlier one.
    string ConnectionString(string app, string extra = "") =>
        $"Host={_cluster.Nodes[0].Host};Port={_cluster.Nodes[0].Port};Database=bigmath;Username=bigmath;Password=bigmath;" +
        $"Load Balance Hosts=true;Pooling=false;Application Name={app};Failed Host Reconnect Delay Secs={ReconnectDelay.TotalSeconds};" +
        $"Hedged Open Delay=10000;{extra}";

    /// <summary>
    /// Waits out the reconnect delay of servers that failed before now: the delay passing is the subject of the step that
    /// follows (a server marked down is skipped until then and probed by the next open after), not a state to settle.
    /// Every failure happened before this call, so one delay from now is enough; 100 ms more covers timer granularity.
    /// </summary>
    static Task WaitOutReconnectDelayAsync(TimeSpan delay) => Task.Delay(delay + TimeSpan.FromMilliseconds(100));

    [Fact]
    public async Task Killed_node_is_skipped_then_probed_once_and_gets_its_share_back()
    {
        var app = "failover-kill";
        await using var ds = BrightDbDataSource.Create(ConnectionString(app));
        await using (await ds.OpenConnectionAsync()) { }
        var killed = _cluster.Nodes[2];
        var downEvents = 0;
        var upEvents = 0;
        ds.HostMarkedDown += (_, e) => { if (e.Host == killed.Host) Interlocked.Increment(ref downEvents); };
        ds.HostMarkedUp += (_, e) => { if (e.Host == killed.Host) Interlocked.Increment(ref upEvents); };

        await _cluster.KillNodeAsync(killed.Index);
        var held = new List<NpgsqlConnection>();
        for (var i = 0; i < 12; i++)
            held.Add(await ds.OpenConnectionAsync());

        var map = ds.GetHostToConnectionMap();
        Assert.Equal(0, map[killed.Host]);
        Assert.Equal(12, map[_cluster.Nodes[0].Host] + map[_cluster.Nodes[1].Host]);
        Assert.Equal(1, downEvents);

        // Back (it accepts connections once started), and the delay over: one probe succeeds and the node is filled up
        // to its share.
        await _cluster.StartNodeAsync(killed.Index);
        await WaitOutReconnectDelayAsync(ReconnectDelay);
        for (var i = 0; i < 6; i++)
            held.Add(await ds.OpenConnectionAsync());
        map = ds.GetHostToConnectionMap();
        Assert.Equal(6, map[killed.Host]);
        Assert.Equal(1, upEvents);
        var server = await _cluster.GetClientConnectionCountsAsync(app);
        Assert.Equal(6, server[killed.Index]);

        foreach (var c in held)
            await c.DisposeAsync();
        Assert.All(ds.GetHostToConnectionMap().Values, v => Assert.Equal(0, v));
    }

    [Fact]
    public async Task Paused_node_costs_one_hedge_delay_not_a_timeout_per_open()
    {
        var app = "failover-pause";
        var timeout = TimeSpan.FromSeconds(10);
        var hedgeDelay = TimeSpan.FromMilliseconds(500);
        await using var ds = BrightDbDataSource.Create(ConnectionString(app, $"Timeout={timeout.TotalSeconds};Hedged Open Delay={hedgeDelay.TotalMilliseconds}"));
        await using (await ds.OpenConnectionAsync()) { }
        var paused = _cluster.Nodes[1];
        await _cluster.PauseNodeAsync(paused.Index);
        try
        {
            var held = new List<NpgsqlConnection>();
            var durations = new List<TimeSpan>();
            for (var i = 0; i < 30; i++)
            {
                var watch = Stopwatch.StartNew();
                held.Add(await ds.OpenConnectionAsync());
                durations.Add(watch.Elapsed);
            }

            // A hung server costs an open at most one hedge delay, never a Timeout: each open is bounded by the hedge
            // delay plus 3 s for a healthy server's open on a loaded machine (slow handshakes, timers firing late), well
            // under the Timeout.
            var bound = hedgeDelay + TimeSpan.FromSeconds(3);
            Assert.True(durations.All(d => d < timeout), $"an open waited a Timeout ({timeout.TotalSeconds} s): {Describe(durations)}");
            Assert.True(durations.All(d => d <= bound), $"each open must take at most {bound.TotalSeconds} s (one hedge delay + margin): {Describe(durations)}");
            // The map counts connections: an attempt abandoned on the hung server, still waiting there, is none.
            Assert.Equal(0, ds.GetHostToConnectionMap()[paused.Host]);
            Assert.All(held, c => Assert.NotEqual(paused.Host, c.Host));
            // The 30 are on the other two nodes (an attempt that lost a hedge race on a loaded machine is closed just after).
            await ClusterWaits.UntilAsync(
                () => Task.FromResult(ds.GetHostToConnectionMap() is var map && map[_cluster.Nodes[0].Host] + map[_cluster.Nodes[2].Host] == 30),
                "the map to show the 30 held connections on nodes 1 and 3");
            foreach (var c in held)
                await c.DisposeAsync();
        }
        finally
        {
            await _cluster.ResumeNodeAsync(paused.Index);
        }

        // The attempt abandoned on the hung node ends (it opens once the node resumes, and is closed): nothing stays counted.
        await ClusterWaits.UntilAsync(() => Task.FromResult(ds.GetHostToConnectionMap().Values.All(v => v == 0)), "the map to show 0 everywhere");
    }

    [Fact]
    public async Task Synchronous_opens_wait_at_most_one_timeout_on_a_hung_node()
    {
        var app = "failover-pause-sync";
        var timeout = TimeSpan.FromSeconds(4);
        // The longest reconnect delay (60 s), far longer than the 30 opens take, so that the hung node is not probed again
        // meanwhile.
        await using var ds = BrightDbDataSource.Create(ConnectionString(app, $"Timeout={timeout.TotalSeconds};Failed Host Reconnect Delay Secs=60"));
        ds.OpenConnection().Dispose();
        var paused = _cluster.Nodes[0];
        await _cluster.PauseNodeAsync(paused.Index);
        try
        {
            var held = new List<NpgsqlConnection>();
            var durations = new List<TimeSpan>();
            for (var i = 0; i < 30; i++)
            {
                var watch = Stopwatch.StartNew();
                held.Add(ds.OpenConnection());
                durations.Add(watch.Elapsed);
            }

            // A synchronous open cannot hedge: the one that meets the hung node waits one Timeout, then goes on to another
            // node (1 s of margin for that open on a loaded machine). The node is then skipped: no other open waits on it.
            var bound = timeout + TimeSpan.FromSeconds(1);
            Assert.True(durations.All(d => d <= bound), $"each open must take at most {bound.TotalSeconds} s (one Timeout + margin): {Describe(durations)}");
            Assert.True(durations.Count(d => d >= timeout / 2) <= 1, $"more than one open waited on the hung node: {Describe(durations)}");
            Assert.Equal(0, ds.GetHostToConnectionMap()[paused.Host]);
            foreach (var c in held)
                c.Dispose();
        }
        finally
        {
            await _cluster.ResumeNodeAsync(paused.Index);
        }
    }

    static string Describe(IEnumerable<TimeSpan> durations) =>
        string.Join(", ", durations.Select(d => d.TotalSeconds.ToString("0.000 s", System.Globalization.CultureInfo.InvariantCulture)));

    [Fact]
    public async Task Everything_down_fails_with_each_server_then_works_again_when_back()
    {
        var app = "failover-all";
        var reconnectDelay = TimeSpan.FromSeconds(1);
        await using var ds = BrightDbDataSource.Create(ConnectionString(app, $"Failed Host Reconnect Delay Secs={reconnectDelay.TotalSeconds}"));
        await using (await ds.OpenConnectionAsync()) { }
        foreach (var node in _cluster.Nodes)
            await _cluster.KillNodeAsync(node.Index);
        try
        {
            var error = await Assert.ThrowsAsync<NpgsqlException>(async () => await ds.OpenConnectionAsync());
            foreach (var node in _cluster.Nodes)
                Assert.Contains(node.Host, error.Message);
            Assert.DoesNotContain("bigmath;", error.Message);
        }
        finally
        {
            foreach (var node in _cluster.Nodes)
                await _cluster.StartNodeAsync(node.Index);
        }

        // Back (each accepts connections once started), and the delay over: every server is probed again.
        await WaitOutReconnectDelayAsync(reconnectDelay);
        var held = new List<NpgsqlConnection>();
        for (var i = 0; i < 6; i++)
            held.Add(await ds.OpenConnectionAsync());
        Assert.All(_cluster.Nodes, n => Assert.Equal(2, ds.GetHostToConnectionMap()[n.Host]));
        foreach (var c in held)
            await c.DisposeAsync();
    }

    [Fact]
    public async Task Cancelled_opens_leave_nothing_counted()
    {
        var app = "failover-cancel";
        var timeout = TimeSpan.FromSeconds(10);
        var cancelAfter = TimeSpan.FromMilliseconds(200);
        // The hedge delay (10 s) and the Timeout are far beyond the cancellation: an open waiting on the hung node can only
        // end early by being cancelled.
        await using var ds = BrightDbDataSource.Create(ConnectionString(app, $"Timeout={timeout.TotalSeconds}"));
        await using (await ds.OpenConnectionAsync()) { }
        var paused = _cluster.Nodes[1];
        await _cluster.PauseNodeAsync(paused.Index);
        var held = new List<NpgsqlConnection>();
        var cancelled = new List<TimeSpan>();
        try
        {
            // The connections that open are held, so the hung node (never counted) stays the least loaded: after the other
            // two have one each, every open goes to it, waits, and is cancelled there.
            for (var i = 0; i < 10; i++)
            {
                using var cts = new CancellationTokenSource(cancelAfter);
                var watch = Stopwatch.StartNew();
                try
                {
                    held.Add(await ds.OpenConnectionAsync(cts.Token));
                }
                catch (OperationCanceledException)
                {
                    cancelled.Add(watch.Elapsed);
                }
            }

            Assert.All(held, c => Assert.NotEqual(paused.Host, c.Host));
            Assert.True(cancelled.Count > 0, $"no open was cancelled ({held.Count} opened): the cancellation was not honoured");
            // A cancelled open ends soon after its token is cancelled (1 s of margin), not after the hedge delay or Timeout.
            var bound = cancelAfter + TimeSpan.FromSeconds(1);
            Assert.True(cancelled.All(d => d <= bound), $"each cancelled open must end within {bound.TotalSeconds} s: {Describe(cancelled)}");

            // The map counts connections, not attempts: the cancelled opens are not in it, although their attempts may still be
            // waiting on the hung node (the balancer keeps counting those until they end, so as not to send more there).
            foreach (var c in held)
                await c.DisposeAsync();
            held.Clear();
            Assert.All(ds.GetHostToConnectionMap().Values, v => Assert.Equal(0, v));
        }
        finally
        {
            foreach (var c in held)
                await c.DisposeAsync();
            await _cluster.ResumeNodeAsync(paused.Index);
        }

        // Once the node answers again, nothing of the cancelled opens remains on it, nor in the balancer's counts.
        await ClusterWaits.ServerCountBecomesAsync(_cluster, app, paused, 0);
        await ClusterWaits.UntilAsync(
            () => Task.FromResult(ds.ActiveEndpoints().All(e => e.InUse == 0)),
            "the balancer's counts to come back to 0 once the abandoned attempts end", timeout.TotalSeconds + 10);
        Assert.All(ds.GetHostToConnectionMap().Values, v => Assert.Equal(0, v));
    }

    [Fact]
    public async Task Disposed_data_source_closes_its_connections_and_refuses_use()
    {
        var app = "failover-dispose";
        var ds = BrightDbDataSource.Create(ConnectionString(app).Replace("Pooling=false", "Pooling=true"));
        var held = new List<NpgsqlConnection>();
        for (var i = 0; i < 6; i++)
            held.Add(await ds.OpenConnectionAsync());
        foreach (var c in held)
            await c.DisposeAsync();
        // Pooled: the six returned connections stay open (idle) on their servers, and the map shows them as the servers do.
        await ClusterWaits.UntilAsync(async () => (await _cluster.GetClientConnectionCountsAsync(app)).Values.Sum() == 6,
            "the servers to count the 6 pooled connections");
        Assert.Equal(6, ds.GetHostToConnectionMap().Values.Sum());

        await ds.DisposeAsync();
        await ClusterWaits.UntilAsync(async () => (await _cluster.GetClientConnectionCountsAsync(app)).Values.Sum() == 0,
            "the servers to count no connection of the disposed data source");
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await ds.OpenConnectionAsync());
        Assert.Throws<ObjectDisposedException>(() => ds.OpenConnection());
    }
}
