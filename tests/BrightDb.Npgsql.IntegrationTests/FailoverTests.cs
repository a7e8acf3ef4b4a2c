using System.Diagnostics;
using BrightDb.LocalCluster;
using Npgsql;

namespace BrightDb.Npgsql.IntegrationTests;

/// <summary>Crashed, hung and returning servers: opens go elsewhere at once, one probe per recovery, nothing leaks.</summary>
public sealed class FailoverTests : IAsyncLifetime
{
    LocalCluster.LocalCluster _cluster = null!;

    public async Task InitializeAsync() =>
        _cluster = await LocalCluster.LocalCluster.StartAsync("aws.us-west.us-west-2a", "aws.us-west.us-west-2b", "aws.us-west.us-west-2c");

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    string ConnectionString(string app, string extra = "") =>
        $"Host={_cluster.Nodes[0].Host};Port={_cluster.Nodes[0].Port};Database=bigmath;Username=bigmath;Password=bigmath;" +
        $"Load Balance Hosts=true;Pooling=false;Application Name={app};Failed Host Reconnect Delay Secs=2;{extra}";

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

        // Back, and the delay over: one probe succeeds and the node is filled up to its share.
        await _cluster.StartNodeAsync(killed.Index);
        await Task.Delay(TimeSpan.FromSeconds(2.5));
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
        await using var ds = BrightDbDataSource.Create(ConnectionString(app, "Timeout=10;Hedged Open Delay=500"));
        await using (await ds.OpenConnectionAsync()) { }
        var paused = _cluster.Nodes[1];
        await _cluster.PauseNodeAsync(paused.Index);
        try
        {
            var held = new List<NpgsqlConnection>();
            var watch = Stopwatch.StartNew();
            for (var i = 0; i < 30; i++)
                held.Add(await ds.OpenConnectionAsync());
            watch.Stop();

            // At most one Timeout (10 s) plus a little, where waiting on the hung node once per open would take minutes;
            // in practice only the first open that met it waits, and only for the hedge delay.
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10 + 5), $"30 opens took {watch.Elapsed}");
            // At most one open (the first, abandoned by its hedge and still counted while it waits) is on the hung node.
            Assert.InRange(ds.GetHostToConnectionMap()[paused.Host], 0, 1);
            // The 30 are on the other two nodes (an attempt that lost a hedge race on a loaded machine is closed just after).
            await WaitUntil(() => ds.GetHostToConnectionMap() is var map && map[_cluster.Nodes[0].Host] + map[_cluster.Nodes[2].Host] == 30);
            Assert.All(held, c => Assert.NotEqual(paused.Host, c.Host));
            foreach (var c in held)
                await c.DisposeAsync();
        }
        finally
        {
            await _cluster.ResumeNodeAsync(paused.Index);
        }

        // The attempt abandoned on the hung node ends (it opens once the node resumes, and is closed): nothing stays counted.
        await WaitUntil(() => ds.GetHostToConnectionMap().Values.All(v => v == 0));
    }

    [Fact]
    public async Task Synchronous_opens_wait_at_most_one_timeout_on_a_hung_node()
    {
        var app = "failover-pause-sync";
        await using var ds = BrightDbDataSource.Create(ConnectionString(app, "Timeout=4"));
        ds.OpenConnection().Dispose();
        var paused = _cluster.Nodes[0];
        await _cluster.PauseNodeAsync(paused.Index);
        try
        {
            var held = new List<NpgsqlConnection>();
            var watch = Stopwatch.StartNew();
            for (var i = 0; i < 30; i++)
                held.Add(ds.OpenConnection());
            watch.Stop();
            // One Timeout (4 s) for the open that met the hung node, then it is skipped: far from 10 × Timeout.
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(4 + 8), $"30 opens took {watch.Elapsed}");
            Assert.Equal(0, ds.GetHostToConnectionMap()[paused.Host]);
            foreach (var c in held)
                c.Dispose();
        }
        finally
        {
            await _cluster.ResumeNodeAsync(paused.Index);
        }
    }

    [Fact]
    public async Task Everything_down_fails_with_each_server_then_works_again_when_back()
    {
        var app = "failover-all";
        await using var ds = BrightDbDataSource.Create(ConnectionString(app, "Failed Host Reconnect Delay Secs=1"));
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

        await Task.Delay(TimeSpan.FromSeconds(1.5));
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
        await using var ds = BrightDbDataSource.Create(ConnectionString(app));
        await using (await ds.OpenConnectionAsync()) { }
        var tasks = new List<Task>();
        for (var i = 0; i < 50; i++)
        {
            using var cts = new CancellationTokenSource();
            var open = ds.OpenConnectionAsync(cts.Token).AsTask();
            cts.Cancel();
            tasks.Add(open.ContinueWith(t => { if (t.IsCompletedSuccessfully) t.Result.Dispose(); }, TaskScheduler.Default));
        }

        await Task.WhenAll(tasks);
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
        // Pooled: returned connections stay open (idle) on their servers, and the map shows them as the servers do.
        var idle = (await _cluster.GetClientConnectionCountsAsync(app)).Values.Sum();
        Assert.True(idle >= 6, $"{idle} pooled connections");
        Assert.Equal(idle, ds.GetHostToConnectionMap().Values.Sum());

        await ds.DisposeAsync();
        await WaitUntil(async () => (await _cluster.GetClientConnectionCountsAsync(app)).Values.Sum() == 0);
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await ds.OpenConnectionAsync());
        Assert.Throws<ObjectDisposedException>(() => ds.OpenConnection());
    }

    static async Task WaitUntil(Func<bool> condition) => await WaitUntil(() => Task.FromResult(condition()));

    static async Task WaitUntil(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not reached within 20 s");
            await Task.Delay(100);
        }
    }
}
