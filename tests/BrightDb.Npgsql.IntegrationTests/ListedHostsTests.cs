using BrightDb.LocalCluster;
using Npgsql;
using Xunit.Abstractions;

namespace BrightDb.Npgsql.IntegrationTests;

/// <summary>
/// The hosts of the connection string are only a way in: a dead first host does not stop discovery, and once the cluster
/// is known, refreshes go through any server that answers, listed or not.
/// </summary>
public sealed class ListedHostsTests(ITestOutputHelper output) : IAsyncLifetime
{
    LocalCluster.LocalCluster _cluster = null!;

    public async Task InitializeAsync() =>
        _cluster = await LocalCluster.LocalCluster.StartAsync("aws.us-west.us-west-2a", "aws.us-west.us-west-2b", "aws.us-west.us-west-2c");

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    /// <summary>A data source whose driver log goes to the test's output.</summary>
    BrightDbDataSource Create(string connectionString) =>
        new BrightDbDataSourceBuilder(connectionString).UseLoggerFactory(new LogRecorder(output)).Build();

    // Hedging is for hung servers: at its 2 s default a loaded test machine can trip it on a healthy server and skew the
    // counts asserted here, so it waits longer (a crashed server refuses at once and is not concerned).
    string ConnectionString(string app) =>
        $"Host={_cluster.Node(1).Host},{_cluster.Node(2).Host};Port={_cluster.Node(1).Port};Database=bigmath;Username=bigmath;Password={_cluster.Password};" +
        $"Load Balance Hosts=true;Pooling=false;Application Name={app};Failed Host Reconnect Delay Secs=1;Hedged Open Delay=10000";

    async Task RestartStoppedNodesAsync()
    {
        foreach (var node in _cluster.Nodes.Where(n => n.State != NodeState.Running))
            await _cluster.StartNodeAsync(node.Index);
    }

    [Fact]
    public async Task First_listed_host_down_before_the_first_open_discovery_uses_the_next_and_balances_over_the_live_nodes()
    {
        var app = "listed-first-down";
        var (dead, second, third) = (_cluster.Node(1), _cluster.Node(2), _cluster.Node(3));
        await _cluster.KillNodeAsync(dead.Index);
        var held = new List<NpgsqlConnection>();
        try
        {
            await using var ds = Create(ConnectionString(app));
            for (var i = 0; i < 8; i++)
                held.Add(await ds.OpenConnectionAsync());

            // A killed server is still listed by yb_servers(): it is known, and skipped.
            var topology = ds.Topology;
            Assert.NotNull(topology);
            Assert.True(topology.FromYbServers);
            Assert.Equal(3, topology.Servers.Count);
            Assert.Equal(4, held.Count(c => c.Host == second.Host));
            Assert.Equal(4, held.Count(c => c.Host == third.Host));
            Assert.Equal(0, ClusterWaits.MapCount(ds, dead.Host));
            Assert.Equal(4, ClusterWaits.MapCount(ds, second.Host));
            Assert.Equal(4, ClusterWaits.MapCount(ds, third.Host));
            await ClusterWaits.ServerCountBecomesAsync(_cluster, app, second, 4);
            await ClusterWaits.ServerCountBecomesAsync(_cluster, app, third, 4);
        }
        finally
        {
            foreach (var c in held)
                await c.DisposeAsync();
            await RestartStoppedNodesAsync();
        }
    }

    [Fact]
    public async Task All_listed_hosts_down_after_discovery_the_refresh_goes_through_a_discovered_server()
    {
        var app = "listed-all-down";
        var logs = new LogRecorder(output);
        var (first, second, third) = (_cluster.Node(1), _cluster.Node(2), _cluster.Node(3));
        await using var ds = new BrightDbDataSourceBuilder(ConnectionString(app)).UseLoggerFactory(logs).Build();
        (await ds.OpenConnectionAsync()).Dispose();
        var before = ds.Topology!;
        Assert.Equal(3, before.Servers.Count);

        await _cluster.KillNodeAsync(first.Index);
        await _cluster.KillNodeAsync(second.Index);
        var held = new List<NpgsqlConnection>();
        try
        {
            // Only the unlisted node 3 can answer: a new snapshot proves the refresh went through it.
            var refreshedBefore = logs.WithId(1006).Count;
            var after = await ds.RefreshTopologyAsync();
            Assert.NotSame(before, after);
            Assert.Same(after, ds.Topology);
            Assert.True(after.FromYbServers);
            Assert.Equal(3, after.Servers.Count);
            Assert.Empty(logs.WithId(1002));
            var refreshed = logs.WithId(1006).Skip(refreshedBefore).ToList();
            Assert.Contains(refreshed, e => e.Values.GetValueOrDefault("Server")?.StartsWith(third.Host + ":", StringComparison.Ordinal) == true);

            for (var i = 0; i < 4; i++)
                held.Add(await ds.OpenConnectionAsync());
            Assert.All(held, c => Assert.Equal(third.Host, c.Host));
            Assert.Equal(4, ClusterWaits.MapCount(ds, third.Host));
            await ClusterWaits.ServerCountBecomesAsync(_cluster, app, third, 4);
        }
        finally
        {
            foreach (var c in held)
                await c.DisposeAsync();
            await RestartStoppedNodesAsync();
        }
    }
}
