using System.Diagnostics;
using BrightDb.LocalCluster;
using Microsoft.Extensions.Logging;
using Npgsql;
using Xunit.Abstractions;

namespace BrightDb.Npgsql.IntegrationTests;

/// <summary>
/// <c>yb_servers()</c> failing, slow or missing: a failed refresh keeps the last good topology (opens keep working and
/// balancing) and a later one picks up changes; without the function the listed hosts are used, with one warning.
/// </summary>
[Collection(nameof(Support.TimedCollection))]
public sealed class DiscoveryFailureTests(ITestOutputHelper output) : IAsyncLifetime
{
    LocalCluster.LocalCluster _cluster = null!;

    public async Task InitializeAsync() =>
        _cluster = await LocalCluster.LocalCluster.StartAsync("aws.us-west.us-west-2a", "aws.us-west.us-west-2b", "aws.us-west.us-west-2c");

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    // Hedging is for hung servers: at its 2 s default a loaded test machine can trip it on a healthy server and skew the
    // counts asserted here, so it waits longer (a crashed server refuses at once and is not concerned).
    string ConnectionString(string app, string hosts, string extra = "") =>
        $"Host={hosts};Port={_cluster.Nodes[0].Port};Database=bigmath;Username=bigmath;Password={_cluster.Password};" +
        $"Load Balance Hosts=true;Pooling=false;Application Name={app};Failed Host Reconnect Delay Secs=1;Hedged Open Delay=10000;{extra}";

    static async Task<List<NpgsqlConnection>> OpenAsync(BrightDbDataSource ds, int count)
    {
        var held = new List<NpgsqlConnection>();
        for (var i = 0; i < count; i++)
            held.Add(await ds.OpenConnectionAsync());
        return held;
    }

    /// <summary>Hides node 3 from <c>yb_servers()</c>: the change a failing or slow function keeps from the driver.</summary>
    Task DropNodeThreeFromMembershipAsync() =>
        _cluster.SetYbServersOverrideAsync([ClusterWaits.RowOf(_cluster, _cluster.Node(1)), ClusterWaits.RowOf(_cluster, _cluster.Node(2))]);

    /// <summary>
    /// Refreshes until the snapshot lacks node 3. The first refresh after restoring the function normally does it; one more
    /// is allowed because a background refresh started while the function still failed may be the one joined.
    /// </summary>
    async Task<ClusterTopology> RefreshUntilNodeThreeIsGoneAsync(BrightDbDataSource ds)
    {
        ClusterTopology topology = null!;
        for (var attempt = 0; attempt < 3; attempt++)
        {
            topology = await ds.RefreshTopologyAsync();
            if (topology.Servers.All(s => s.Host != _cluster.Node(3).Host))
                break;
        }

        return topology;
    }

    [Fact]
    public async Task Failing_yb_servers_on_refresh_keeps_the_last_topology_and_a_later_refresh_picks_up_changes()
    {
        var app = "disc-fail";
        var logs = new LogRecorder(output);
        await using var ds = new BrightDbDataSourceBuilder(ConnectionString(app, _cluster.Nodes[0].Host)).UseLoggerFactory(logs).Build();
        var markedDown = 0;
        ds.HostMarkedDown += (_, _) => Interlocked.Increment(ref markedDown);
        (await ds.OpenConnectionAsync()).Dispose();
        var before = ds.Topology!;
        Assert.Equal(3, before.Servers.Count);

        await _cluster.SetYbServersBehaviorAsync(YbServersBehavior.Fail);
        await DropNodeThreeFromMembershipAsync();
        var held = new List<NpgsqlConnection>();
        try
        {
            var kept = await ds.RefreshTopologyAsync();
            Assert.Same(before, kept);
            Assert.Same(before, ds.Topology);
            Assert.NotEmpty(logs.WithId(1002));
            // The servers answered; only the function failed: nobody is marked down.
            Assert.Equal(0, markedDown);

            held.AddRange(await OpenAsync(ds, 6));
            Assert.Same(before, ds.Topology);
            Assert.All(_cluster.Nodes, n => Assert.Equal(2, ClusterWaits.MapCount(ds, n.Host)));
            foreach (var node in _cluster.Nodes)
                await ClusterWaits.ServerCountBecomesAsync(_cluster, app, node, 2);
            foreach (var c in held)
                await c.DisposeAsync();
            held.Clear();

            await _cluster.SetYbServersBehaviorAsync(YbServersBehavior.Normal);
            var after = await RefreshUntilNodeThreeIsGoneAsync(ds);
            Assert.Equal([_cluster.Node(1).Host, _cluster.Node(2).Host], after.Servers.Select(s => s.Host).Order());
            Assert.Same(after, ds.Topology);

            held.AddRange(await OpenAsync(ds, 4));
            Assert.DoesNotContain(held, c => c.Host == _cluster.Node(3).Host);
            Assert.Equal(2, ClusterWaits.MapCount(ds, _cluster.Node(1).Host));
            Assert.Equal(2, ClusterWaits.MapCount(ds, _cluster.Node(2).Host));
            Assert.Equal(0, markedDown);
        }
        finally
        {
            foreach (var c in held)
                await c.DisposeAsync();
            await _cluster.SetYbServersBehaviorAsync(YbServersBehavior.Normal);
            await _cluster.SetYbServersOverrideAsync(null);
        }
    }

    [Fact]
    public async Task Slow_yb_servers_beyond_the_command_timeout_keeps_the_last_topology_and_opens_do_not_wait_for_it()
    {
        var app = "disc-slow";
        var logs = new LogRecorder(output);
        var timeout = TimeSpan.FromSeconds(2);
        await using var ds = new BrightDbDataSourceBuilder(ConnectionString(app, _cluster.Nodes[0].Host, $"Timeout={timeout.TotalSeconds}")).UseLoggerFactory(logs).Build();
        var markedDown = 0;
        ds.HostMarkedDown += (_, _) => Interlocked.Increment(ref markedDown);
        (await ds.OpenConnectionAsync()).Dispose();
        var before = ds.Topology!;

        // Each call sleeps twice the command timeout the driver gives it (its Timeout, 2 s).
        await _cluster.SetYbServersBehaviorAsync(YbServersBehavior.Slow(TimeSpan.FromSeconds(4)));
        await DropNodeThreeFromMembershipAsync();
        var held = new List<NpgsqlConnection>();
        try
        {
            var refresh = ds.RefreshTopologyAsync();
            var durations = new List<TimeSpan>();
            for (var i = 0; i < 6; i++)
            {
                var watch = Stopwatch.StartNew();
                held.Add(await ds.OpenConnectionAsync());
                durations.Add(watch.Elapsed);
            }

            Assert.False(refresh.IsCompleted, "the slow refresh ended before the opens: the test proves nothing");
            // Opens use the current snapshot and never wait for the refresh, which takes at least one command timeout (the
            // Timeout): each open must take less. A healthy open takes milliseconds, so nearly all of it is margin for a
            // loaded machine.
            Assert.True(durations.All(d => d < timeout),
                $"each open during a slow refresh must take less than {timeout.TotalSeconds} s; they took " +
                string.Join(", ", durations.Select(d => d.TotalSeconds.ToString("0.000 s", System.Globalization.CultureInfo.InvariantCulture))));
            Assert.All(_cluster.Nodes, n => Assert.Equal(2, ClusterWaits.MapCount(ds, n.Host)));

            var kept = await refresh;
            Assert.Same(before, kept);
            Assert.Same(before, ds.Topology);
            Assert.NotEmpty(logs.WithId(1002));
            Assert.Equal(0, markedDown);
            // The refresh's own connections are gone; the application's are where the map says.
            foreach (var node in _cluster.Nodes)
                await ClusterWaits.ServerCountBecomesAsync(_cluster, app, node, 2);

            held.AddRange(await OpenAsync(ds, 3));
            Assert.All(_cluster.Nodes, n => Assert.Equal(3, ClusterWaits.MapCount(ds, n.Host)));
            foreach (var c in held)
                await c.DisposeAsync();
            held.Clear();

            await _cluster.SetYbServersBehaviorAsync(YbServersBehavior.Normal);
            var after = await RefreshUntilNodeThreeIsGoneAsync(ds);
            Assert.Equal([_cluster.Node(1).Host, _cluster.Node(2).Host], after.Servers.Select(s => s.Host).Order());
            Assert.Same(after, ds.Topology);
        }
        finally
        {
            foreach (var c in held)
                await c.DisposeAsync();
            await _cluster.SetYbServersBehaviorAsync(YbServersBehavior.Normal);
            await _cluster.SetYbServersOverrideAsync(null);
        }
    }

    [Fact]
    public async Task Missing_yb_servers_uses_the_listed_hosts_and_warns_once()
    {
        var app = "disc-missing";
        var logs = new LogRecorder(output);
        var (first, second, unlisted) = (_cluster.Node(1), _cluster.Node(2), _cluster.Node(3));
        await _cluster.SetYbServersBehaviorAsync(YbServersBehavior.Missing);
        try
        {
            await using var ds = new BrightDbDataSourceBuilder(ConnectionString(app, $"{first.Host},{second.Host}")).UseLoggerFactory(logs).Build();
            await ListedHostsOnly.AssertAsync(_cluster, ds, logs, app, first, second, unlisted);
        }
        finally
        {
            await _cluster.SetYbServersBehaviorAsync(YbServersBehavior.Normal);
        }
    }

    [Fact]
    public async Task Failing_yb_servers_on_the_first_open_serves_through_the_listed_hosts_and_discovers_the_cluster_later()
    {
        var app = "disc-fail-first";
        await _cluster.SetYbServersBehaviorAsync(YbServersBehavior.Fail);
        try
        {
            await using var ds = BrightDbDataSource.Create(ConnectionString(app, _cluster.Nodes[0].Host));
            await using (var first = await ds.OpenConnectionAsync())
            {
                Assert.Equal(_cluster.Nodes[0].Host, first.Host);
            }

            Assert.False(ds.Topology!.FromYbServers);
            Assert.Single(ds.Topology.Servers);

            // Once the function works again, the retry (after the reconnect delay, not the 300 s interval) finds the cluster.
            await _cluster.SetYbServersBehaviorAsync(YbServersBehavior.Normal);
            var deadline = Stopwatch.StartNew();
            while (ds.Topology is not { FromYbServers: true } && deadline.Elapsed < TimeSpan.FromSeconds(20))
            {
                await using (await ds.OpenConnectionAsync())
                {
                }

                await Task.Delay(200);
            }

            Assert.True(ds.Topology!.FromYbServers);
            Assert.Equal(3, ds.Topology.Servers.Count);
            var held = await OpenAsync(ds, 6);
            Assert.All(_cluster.Nodes, n => Assert.Equal(2, ds.GetHostToConnectionMap()[n.Host]));
            foreach (var c in held)
                await c.DisposeAsync();
        }
        finally
        {
            await _cluster.SetYbServersBehaviorAsync(YbServersBehavior.Normal);
        }
    }
}

/// <summary>A plain PostgreSQL cluster (no <c>yb_servers()</c> at all): the driver connects to the listed hosts.</summary>
public sealed class PlainPostgresDiscoveryTests(ITestOutputHelper output) : IAsyncLifetime
{
    LocalCluster.LocalCluster _cluster = null!;

    public async Task InitializeAsync() =>
        _cluster = await LocalCluster.LocalCluster.StartAsync(new LocalClusterOptions
        {
            Nodes = [.. new[] { "aws.us-west.us-west-2a", "aws.us-west.us-west-2b", "aws.us-west.us-west-2c" }.Select(p => new NodeSpec(Placement.Parse(p)))],
            WithYbServers = false,
        });

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task Plain_postgresql_uses_the_listed_hosts_and_warns_once()
    {
        var app = "disc-plain";
        var logs = new LogRecorder(output);
        var (first, second, unlisted) = (_cluster.Node(1), _cluster.Node(2), _cluster.Node(3));
        await using var ds = new BrightDbDataSourceBuilder(
                $"Host={first.Host},{second.Host};Port={first.Port};Database=bigmath;Username=bigmath;Password={_cluster.Password};" +
                $"Load Balance Hosts=true;Pooling=false;Application Name={app};Failed Host Reconnect Delay Secs=1;Hedged Open Delay=10000")
            .UseLoggerFactory(logs).Build();
        await ListedHostsOnly.AssertAsync(_cluster, ds, logs, app, first, second, unlisted);
    }
}

/// <summary>What a data source on servers without <c>yb_servers()</c> must do, for both ways of getting there.</summary>
static class ListedHostsOnly
{
    internal static async Task AssertAsync(
        LocalCluster.LocalCluster cluster, BrightDbDataSource ds, LogRecorder logs, string app, LocalNode first, LocalNode second, LocalNode unlisted)
    {
        var held = new List<NpgsqlConnection>();
        try
        {
            for (var i = 0; i < 6; i++)
                held.Add(await ds.OpenConnectionAsync());

            var topology = ds.Topology;
            Assert.NotNull(topology);
            Assert.False(topology.FromYbServers);
            Assert.Equal([first.Host, second.Host], topology.Servers.Select(s => s.Host).Order());
            Assert.Equal(3, held.Count(c => c.Host == first.Host));
            Assert.Equal(3, held.Count(c => c.Host == second.Host));
            Assert.Equal(3, ClusterWaits.MapCount(ds, first.Host));
            Assert.Equal(3, ClusterWaits.MapCount(ds, second.Host));
            Assert.Null(ClusterWaits.MapCount(ds, unlisted.Host));
            await ClusterWaits.ServerCountBecomesAsync(cluster, app, first, 3);
            await ClusterWaits.ServerCountBecomesAsync(cluster, app, second, 3);
            Assert.Equal(0, await ClusterWaits.ServerCountAsync(cluster, app, unlisted));

            // More refreshes find the same: still no function, and no second warning.
            for (var i = 0; i < 3; i++)
                Assert.False((await ds.RefreshTopologyAsync()).FromYbServers);
            var warnings = logs.WithId(1003);
            var warning = Assert.Single(warnings);
            Assert.Equal(LogLevel.Warning, warning.Level);
        }
        finally
        {
            foreach (var c in held)
                await c.DisposeAsync();
        }
    }
}
