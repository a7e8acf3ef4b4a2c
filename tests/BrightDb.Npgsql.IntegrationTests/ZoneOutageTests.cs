using BrightDb.LocalCluster;
using Npgsql;

namespace BrightDb.Npgsql.IntegrationTests;

/// <summary>
/// Topology keys through a zone outage: with <c>2a:1,2b:2,2c:3</c>, opens follow the most preferred zone that is up,
/// and return to 2a once it is back.
/// </summary>
public sealed class ZoneOutageTests : IAsyncLifetime
{
    const string Keys = "aws.us-west.us-west-2a:1,aws.us-west.us-west-2b:2,aws.us-west.us-west-2c:3";

    LocalCluster.LocalCluster _cluster = null!;

    public async Task InitializeAsync() =>
        _cluster = await LocalCluster.LocalCluster.StartAsync("aws.us-west.us-west-2a", "aws.us-west.us-west-2b", "aws.us-west.us-west-2c");

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    LocalNode Zone2a => _cluster.Node(1);
    LocalNode Zone2b => _cluster.Node(2);
    LocalNode Zone2c => _cluster.Node(3);

    // Every node is listed, so that the first discovery does not depend on the zone that is down.
    string ConnectionString(string app, string extra = "") =>
        $"Host={Zone2a.Host},{Zone2b.Host},{Zone2c.Host};Port={Zone2a.Port};Database=bigmath;Username=bigmath;Password={_cluster.Password};" +
        $"Load Balance Hosts=true;Topology Keys={Keys};Pooling=false;Application Name={app};Failed Host Reconnect Delay Secs=1;{extra}";

    static async Task<List<NpgsqlConnection>> OpenAsync(BrightDbDataSource ds, int count)
    {
        var held = new List<NpgsqlConnection>();
        for (var i = 0; i < count; i++)
            held.Add(await ds.OpenConnectionAsync());
        return held;
    }

    async Task AssertServerCountsAsync(string app, int on2a, int on2b, int on2c)
    {
        var counts = await _cluster.GetClientConnectionCountsAsync(app);
        Assert.Equal(
            $"2a={(Zone2a.State == NodeState.Running ? on2a : null)} 2b={(Zone2b.State == NodeState.Running ? on2b : null)} 2c={on2c}",
            $"2a={(counts.TryGetValue(1, out var a) ? a : null)} 2b={(counts.TryGetValue(2, out var b) ? b : null)} 2c={counts.GetValueOrDefault(3)}");
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
        await using var ds = BrightDbDataSource.Create(ConnectionString(app));
        var held = new List<NpgsqlConnection>();
        try
        {
            var on2a = await OpenAsync(ds, 4);
            held.AddRange(on2a);
            Assert.All(on2a, c => Assert.Equal(Zone2a.Host, c.Host));
            await AssertServerCountsAsync(app, 4, 0, 0);

            await _cluster.KillNodeAsync(Zone2a.Index);
            var on2b = await OpenAsync(ds, 4);
            held.AddRange(on2b);
            Assert.All(on2b, c => Assert.Equal(Zone2b.Host, c.Host));
            await AssertServerCountsAsync(app, 0, 4, 0);
            Assert.Equal(4, ClusterWaits.MapCount(ds, Zone2b.Host));

            await _cluster.KillNodeAsync(Zone2b.Index);
            var on2c = await OpenAsync(ds, 4);
            held.AddRange(on2c);
            Assert.All(on2c, c => Assert.Equal(Zone2c.Host, c.Host));
            await AssertServerCountsAsync(app, 0, 0, 4);

            // The connections of the crashed servers are closed by the application.
            foreach (var c in on2a.Concat(on2b))
                await c.DisposeAsync();
            Assert.Equal(0, ClusterWaits.MapCount(ds, Zone2a.Host));
            Assert.Equal(0, ClusterWaits.MapCount(ds, Zone2b.Host));

            // 2a is back: after the reconnect delay and a refresh, new connections go to it again.
            await _cluster.StartNodeAsync(Zone2a.Index);
            await Task.Delay(TimeSpan.FromSeconds(1.5));
            await ds.RefreshTopologyAsync();
            var back = await OpenAsync(ds, 4);
            held.AddRange(back);
            Assert.All(back, c => Assert.Equal(Zone2a.Host, c.Host));
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
    public async Task Paused_zones_fail_over_in_key_order_and_opens_return_to_2a_when_it_resumes()
    {
        var app = "zone-pause";
        await using var ds = BrightDbDataSource.Create(ConnectionString(app, "Timeout=5;Hedged Open Delay=500"));
        var held = new List<NpgsqlConnection>();
        try
        {
            var on2a = await OpenAsync(ds, 2);
            held.AddRange(on2a);
            Assert.All(on2a, c => Assert.Equal(Zone2a.Host, c.Host));

            await _cluster.PauseNodeAsync(Zone2a.Index);
            var on2b = await OpenAsync(ds, 4);
            held.AddRange(on2b);
            Assert.All(on2b, c => Assert.Equal(Zone2b.Host, c.Host));

            await _cluster.PauseNodeAsync(Zone2b.Index);
            var on2c = await OpenAsync(ds, 4);
            held.AddRange(on2c);
            Assert.All(on2c, c => Assert.Equal(Zone2c.Host, c.Host));
            Assert.Equal(4, await ClusterWaits.ServerCountAsync(_cluster, app, Zone2c));

            await _cluster.ResumeNodeAsync(Zone2a.Index);
            await Task.Delay(TimeSpan.FromSeconds(1.5));
            await ds.RefreshTopologyAsync();
            var back = await OpenAsync(ds, 4);
            held.AddRange(back);
            Assert.All(back, c => Assert.Equal(Zone2a.Host, c.Host));
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
