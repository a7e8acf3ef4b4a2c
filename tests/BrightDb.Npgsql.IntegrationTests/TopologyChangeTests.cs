using BrightDb.LocalCluster;
using Npgsql;
using Xunit.Abstractions;

namespace BrightDb.Npgsql.IntegrationTests;

/// <summary>
/// Servers leaving and joining the cluster: after the next refresh a removed server is never tried, its pool is emptied
/// and its map entry goes once its last held connection closes; a new server gets new connections until it has its share.
/// </summary>
/// <remarks>
/// Every test starts and ends with three running members (a removed node is replaced, an added one removed again), so
/// the tests do not depend on their order.
/// </remarks>
public sealed class TopologyChangeTests(ITestOutputHelper output) : IAsyncLifetime
{
    LocalCluster.LocalCluster _cluster = null!;

    public async Task InitializeAsync() =>
        _cluster = await LocalCluster.LocalCluster.StartAsync("aws.us-west.us-west-2a", "aws.us-west.us-west-2b", "aws.us-west.us-west-2c");

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    /// <summary>A data source whose driver log goes to the test's output.</summary>
    BrightDbDataSource Create(string connectionString) =>
        new BrightDbDataSourceBuilder(connectionString).UseLoggerFactory(new LogRecorder(output)).Build();

    /// <summary>The running members, in index order; the first is the listed host.</summary>
    List<LocalNode> Members => [.. _cluster.Nodes.Where(n => n.IsMember && n.State == NodeState.Running)];

    // Hedging is for hung servers: at its 2 s default a loaded test machine can trip it on a healthy server and skew the
    // counts asserted here, so it waits longer (a crashed server refuses at once and is not concerned).
    string ConnectionString(string app, bool pooling, string extra = "")
    {
        var listed = Members[0];
        return $"Host={listed.Host};Port={listed.Port};Database=bigmath;Username=bigmath;Password={_cluster.Password};" +
               $"Load Balance Hosts=true;Pooling={pooling};Application Name={app};Failed Host Reconnect Delay Secs=1;Hedged Open Delay=10000;{extra}";
    }

    static async Task<List<NpgsqlConnection>> OpenAsync(BrightDbDataSource ds, int count)
    {
        var held = new List<NpgsqlConnection>();
        for (var i = 0; i < count; i++)
            held.Add(await ds.OpenConnectionAsync());
        return held;
    }

    static async Task CloseAsync(IEnumerable<NpgsqlConnection> connections)
    {
        foreach (var c in connections.ToList())
            await c.DisposeAsync();
    }

    [Fact]
    public async Task Stopped_node_is_never_tried_after_the_refresh_and_leaves_the_map_when_its_last_held_connection_closes()
    {
        var app = "topo-stop";
        var members = Members;
        var target = members[^1];
        var others = members.Where(n => n != target).ToList();
        await using var ds = Create(ConnectionString(app, pooling: false));
        var markedDown = new List<string>();
        ds.HostMarkedDown += (_, e) => { lock (markedDown) markedDown.Add(e.Host); };

        var held = await OpenAsync(ds, 6);
        Assert.All(members, n => Assert.Equal(2, ClusterWaits.MapCount(ds, n.Host)));
        await ClusterWaits.ServerCountBecomesAsync(_cluster, app, target, 2);

        await _cluster.StopNodeAsync(target.Index);
        try
        {
            var topology = await ds.RefreshTopologyAsync();
            Assert.DoesNotContain(topology.Servers, s => s.Host == target.Host);
            Assert.Equal(others.Select(n => n.Host).Order(), topology.Servers.Select(s => s.Host).Order());
            Assert.Same(topology, ds.Topology);

            // Its two connections are still held by the application, so the map keeps counting them.
            Assert.Equal(2, ClusterWaits.MapCount(ds, target.Host));

            var more = await OpenAsync(ds, 6);
            held.AddRange(more);
            Assert.DoesNotContain(more, c => c.Host == target.Host);
            Assert.All(others, n => Assert.Equal(5, ClusterWaits.MapCount(ds, n.Host)));
            Assert.Equal(2, ClusterWaits.MapCount(ds, target.Host));
            foreach (var node in others)
                await ClusterWaits.ServerCountBecomesAsync(_cluster, app, node, 5);
            // Never tried: a try would have failed (the server is gone) and marked it down.
            lock (markedDown)
                Assert.DoesNotContain(target.Host, markedDown);

            var onTarget = held.Where(c => c.Host == target.Host).ToList();
            Assert.Equal(2, onTarget.Count);
            await onTarget[0].DisposeAsync();
            Assert.Equal(1, ClusterWaits.MapCount(ds, target.Host));
            await onTarget[1].DisposeAsync();
            Assert.False(ds.GetHostToConnectionMap().ContainsKey(target.Host), "the map still lists the stopped node after its last connection closed");

            await CloseAsync(held.Except(onTarget));
            var map = ds.GetHostToConnectionMap();
            Assert.Equal(others.Select(n => n.Host).Order(), map.Keys.Order());
            Assert.All(map.Values, v => Assert.Equal(0, v));
            held.Clear();

            // Started again, the node rejoins the membership: the next refresh brings it back and it gets its share.
            await _cluster.StartNodeAsync(target.Index);
            Assert.Contains((await ds.RefreshTopologyAsync()).Servers, s => s.Host == target.Host);
            held.AddRange(await OpenAsync(ds, 6));
            Assert.All(members, n => Assert.Equal(2, ClusterWaits.MapCount(ds, n.Host)));
            await ClusterWaits.ServerCountBecomesAsync(_cluster, app, target, 2);
        }
        finally
        {
            await CloseAsync(held);
            await _cluster.StartNodeAsync(target.Index);
        }
    }

    [Fact]
    public async Task Node_dropped_from_yb_servers_while_running_gets_nothing_new_and_its_idle_pooled_connections_are_closed()
    {
        var app = "topo-drop-pooled";
        var members = Members;
        var target = members[^1];
        var others = members.Where(n => n != target).ToList();
        await using var ds = Create(ConnectionString(app, pooling: true));

        var held = await OpenAsync(ds, 9);
        var onTarget = held.Where(c => c.Host == target.Host).ToList();
        Assert.Equal(3, onTarget.Count);
        // Return two of the target's connections to its pool (idle there) and keep one.
        await CloseAsync(onTarget.Take(2));
        held.RemoveAll(c => onTarget.Take(2).Contains(c));
        var keptOnTarget = onTarget[2];
        await ClusterWaits.ServerCountBecomesAsync(_cluster, app, target, 3);
        Assert.Equal(3, ClusterWaits.MapCount(ds, target.Host));

        // The node keeps running but the cluster no longer lists it (as while it is being decommissioned).
        await _cluster.SetYbServersOverrideAsync([.. others.Select(n => ClusterWaits.RowOf(_cluster, n))]);
        try
        {
            var topology = await ds.RefreshTopologyAsync();
            Assert.DoesNotContain(topology.Servers, s => s.Host == target.Host);
            Assert.Equal(2, topology.Servers.Count);

            // Its pool is emptied: the idle connections are closed, only the held one stays, on the server and in the map.
            await ClusterWaits.ServerCountBecomesAsync(_cluster, app, target, 1);
            Assert.Equal(1, ClusterWaits.MapCount(ds, target.Host));

            var more = await OpenAsync(ds, 6);
            held.AddRange(more);
            Assert.DoesNotContain(more, c => c.Host == target.Host);
            await ClusterWaits.ServerCountBecomesAsync(_cluster, app, target, 1);
            Assert.All(others, n => Assert.Equal(6, ClusterWaits.MapCount(ds, n.Host)));

            // The last held connection closes: it is closed for real (not pooled), and the node leaves the map.
            await keptOnTarget.DisposeAsync();
            await ClusterWaits.ServerCountBecomesAsync(_cluster, app, target, 0);
            Assert.False(ds.GetHostToConnectionMap().ContainsKey(target.Host), "the map still lists the dropped node after its last connection closed");
        }
        finally
        {
            await CloseAsync(held);
            await _cluster.SetYbServersOverrideAsync(null);
        }
    }

    /// <summary>
    /// An open that read the snapshot before the refresh and chose the dropped node connects there after the refresh emptied
    /// its pool: that connection is closed when returned, not kept idle (dead once the node stops) until its idle lifetime.
    /// The idle lifetime is raised to 300 s so that only the driver can close it within the wait.
    /// </summary>
    [Fact]
    public async Task A_connection_opened_on_a_dropped_node_after_the_refresh_is_closed_when_returned()
    {
        var app = "topo-drop-late";
        var members = Members;
        var target = members[^1];
        var others = members.Where(n => n != target).ToList();
        await using var ds = Create(ConnectionString(app, pooling: true, extra: "Connection Idle Lifetime=300"));
        await CloseAsync(await OpenAsync(ds, members.Count));
        var endpoint = ds.ActiveEndpoints().Single(e => e.Address.Host == target.Host);

        await _cluster.SetYbServersOverrideAsync([.. others.Select(n => ClusterWaits.RowOf(_cluster, n))]);
        try
        {
            await ds.RefreshTopologyAsync();
            Assert.True(endpoint.Removed);
            await ClusterWaits.ServerCountBecomesAsync(_cluster, app, target, 0);

            // What such an open does once it has chosen the server: a connection of the server's data source, counted by its handler.
            var late = endpoint.DataSource.CreateConnection();
            late.StateChange += endpoint.OnStateChange;
            await late.OpenAsync();
            Assert.Equal(target.Host, late.Host);
            await using (var command = new NpgsqlCommand("SELECT 1", late))
                Assert.Equal(1, await command.ExecuteScalarAsync());
            await ClusterWaits.ServerCountBecomesAsync(_cluster, app, target, 1);

            await late.DisposeAsync();
            await ClusterWaits.ServerCountBecomesAsync(_cluster, app, target, 0);
            Assert.False(ds.GetHostToConnectionMap().ContainsKey(target.Host), "the map still lists the dropped node after its last connection closed");
        }
        finally
        {
            await _cluster.SetYbServersOverrideAsync(null);
        }
    }

    [Fact]
    public async Task Removed_node_is_never_tried_after_the_refresh_and_its_pool_is_emptied()
    {
        var app = "topo-remove-pooled";
        var members = Members;
        var target = members[^1];
        var others = members.Where(n => n != target).ToList();
        await using var ds = Create(ConnectionString(app, pooling: true));
        var markedDown = new List<string>();
        ds.HostMarkedDown += (_, e) => { lock (markedDown) markedDown.Add(e.Host); };

        var held = await OpenAsync(ds, 9);
        var onTarget = held.Where(c => c.Host == target.Host).ToList();
        Assert.Equal(3, onTarget.Count);
        await CloseAsync(onTarget.Take(2));
        held.RemoveAll(c => onTarget.Take(2).Contains(c));
        Assert.Equal(3, ClusterWaits.MapCount(ds, target.Host));

        await _cluster.RemoveNodeAsync(target.Index);
        try
        {
            var topology = await ds.RefreshTopologyAsync();
            Assert.DoesNotContain(topology.Servers, s => s.Host == target.Host);
            Assert.Equal(2, topology.Servers.Count);
            // The two idle connections are closed at once; the held one is counted until the application closes it.
            Assert.Equal(1, ClusterWaits.MapCount(ds, target.Host));

            var more = await OpenAsync(ds, 6);
            held.AddRange(more);
            Assert.DoesNotContain(more, c => c.Host == target.Host);
            Assert.All(others, n => Assert.Equal(6, ClusterWaits.MapCount(ds, n.Host)));
            foreach (var node in others)
                await ClusterWaits.ServerCountBecomesAsync(_cluster, app, node, 6);
            lock (markedDown)
                Assert.DoesNotContain(target.Host, markedDown);

            await onTarget[2].DisposeAsync();
            held.Remove(onTarget[2]);
            Assert.False(ds.GetHostToConnectionMap().ContainsKey(target.Host), "the map still lists the removed node after its last connection closed");
        }
        finally
        {
            await CloseAsync(held);
            // Back to three members for the other tests.
            await _cluster.AddNodeAsync(new NodeSpec(target.Placement));
        }
    }

    [Fact]
    public async Task Added_node_gets_the_new_connections_until_it_has_its_share()
    {
        var app = "topo-add";
        var members = Members;
        await using var ds = Create(ConnectionString(app, pooling: false));
        var held = await OpenAsync(ds, 12);
        Assert.All(members, n => Assert.Equal(4, ClusterWaits.MapCount(ds, n.Host)));

        var added = await _cluster.AddNodeAsync(new NodeSpec(Placement.Parse("aws.us-west.us-west-2d")));
        try
        {
            // Not known before the refresh.
            Assert.False(ds.GetHostToConnectionMap().ContainsKey(added.Host));
            var topology = await ds.RefreshTopologyAsync();
            Assert.Contains(topology.Servers, s => s.Host == added.Host);
            Assert.Equal(0, ClusterWaits.MapCount(ds, added.Host));

            var more = await OpenAsync(ds, 4);
            held.AddRange(more);
            Assert.All(more, c => Assert.Equal(added.Host, c.Host));
            Assert.Equal(4, ClusterWaits.MapCount(ds, added.Host));
            await ClusterWaits.ServerCountBecomesAsync(_cluster, app, added, 4);
            foreach (var node in members)
                await ClusterWaits.ServerCountBecomesAsync(_cluster, app, node, 4);

            // Once it has its share, the next connections spread over all four again.
            var spread = await OpenAsync(ds, 4);
            held.AddRange(spread);
            Assert.Equal(4, spread.Select(c => c.Host).Distinct().Count());
        }
        finally
        {
            await CloseAsync(held);
            await _cluster.RemoveNodeAsync(added.Index);
        }
    }

    [Fact]
    public async Task Added_node_takes_its_share_of_a_pooled_load_once_old_connections_reach_their_lifetime()
    {
        var app = "topo-add-pooled";
        var members = Members;
        var lifetime = TimeSpan.FromSeconds(2);
        await using var ds = Create(ConnectionString(app, pooling: true, $"Connection Lifetime={lifetime.TotalSeconds}"));
        var old = await OpenAsync(ds, 12);
        // Every old connection was opened by now: their lifetime ends at most one lifetime from here.
        var oldOpened = System.Diagnostics.Stopwatch.StartNew();
        await CloseAsync(old);
        foreach (var node in members)
            await ClusterWaits.ServerCountBecomesAsync(_cluster, app, node, 4);

        var added = await _cluster.AddNodeAsync(new NodeSpec(Placement.Parse("aws.us-west.us-west-2d")));
        try
        {
            await ds.RefreshTopologyAsync();
            // The old servers' idle connections are still pooled there; the new server has none yet.
            await ClusterWaits.ServerCountBecomesAsync(_cluster, app, added, 0);

            // The old connections reaching their lifetime is the subject: wait for it to pass (100 ms more cover the
            // granularity of the clocks), however long the steps above took.
            var untilExpired = lifetime + TimeSpan.FromMilliseconds(100) - oldOpened.Elapsed;
            if (untilExpired > TimeSpan.Zero)
                await Task.Delay(untilExpired);
            for (var cycle = 0; cycle < 3; cycle++)
            {
                var held = await OpenAsync(ds, 12);
                Assert.Equal(3, held.Count(c => c.Host == added.Host));
                await CloseAsync(held);
            }

            // Expired connections were closed when taken and replaced: 3 physical connections per server, new one included.
            var all = members.Append(added).ToList();
            foreach (var node in all)
                await ClusterWaits.ServerCountBecomesAsync(_cluster, app, node, 3);
            Assert.All(all, n => Assert.Equal(3, ClusterWaits.MapCount(ds, n.Host)));
        }
        finally
        {
            await _cluster.RemoveNodeAsync(added.Index);
        }
    }
}
