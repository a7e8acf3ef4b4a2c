using BrightDb.Npgsql.IntegrationTests.Support;
using Npgsql;

namespace BrightDb.Npgsql.IntegrationTests;

static class Zones
{
    /// <summary>Writes <c>2a:1,2b</c> as <c>aws.us-west.us-west-2a:1,aws.us-west.us-west-2b</c>; full placements pass unchanged.</summary>
    internal static string Expand(string keys) => string.Join(",", keys.Split(',').Select(k =>
        k.StartsWith('2') ? "aws.us-west.us-west-" + k : k));

    internal static string ConnectionString(LocalCluster.LocalCluster cluster, string app, string keys, string extra = "") =>
        $"Host={string.Join(",", cluster.Nodes.Select(n => n.Host))};Port={cluster.Nodes[0].Port};Database=bigmath;Username=bigmath;Password=bigmath;"
        + $"Load Balance Hosts=true;Topology Keys={Expand(keys)};Application Name={app};{Counts.NoHedging};{extra}";

    internal static async Task<ConnectionSet> OpenAsync(BrightDbDataSource ds, int count)
    {
        var connections = new ConnectionSet();
        try
        {
            for (var i = 0; i < count; i++)
                connections.Add(await ds.OpenConnectionAsync());
            return connections;
        }
        catch
        {
            await connections.DisposeAsync();
            throw;
        }
    }
}

/// <summary>Topology keys with preference levels on nodes in zones 2a, 2b and 2c (nodes 1, 2, 3): 12 connections per case.</summary>
public sealed class TopologyKeysTests(ThreeZonesClusterFixture fixture) : IClassFixture<ThreeZonesClusterFixture>
{
    readonly LocalCluster.LocalCluster _cluster = fixture.Cluster;

    [Theory]
    [InlineData("2a,2c", "6/0/6")]
    [InlineData("2a,2b:1,2c:2", "6/6/0")]
    [InlineData("2a:1,2b:2,2c:3", "12/0/0")]
    [InlineData("aws.us-west.*,2b:1,2c:2", "4/4/4")]
    [InlineData("BAD.BAD.BAD:1,2b:2,2c:3", "0/12/0")]
    [InlineData("BAD.BAD.BAD:1,2b:2,2c:2", "0/6/6")]
    [InlineData("BAD.BAD.BAD:1,BAD.BAD.BAD:2,aws.us-west.*:3", "4/4/4")]
    public async Task Twelve_connections_unpooled(string keys, string expected)
    {
        var app = $"topo-off-{keys}";
        await using var ds = Counts.Create(Zones.ConnectionString(_cluster, app, keys, "Pooling=false"));
        await using var connections = await Zones.OpenAsync(ds, 12);

        Counts.AssertMap(expected, ds, _cluster);
        Assert.Equal(expected, await Counts.ServerEventuallyAsync(_cluster, app, expected));
        await Counts.DisposeAllAsync(connections);
        Counts.AssertMap("0/0/0", ds, _cluster);
    }

    [Theory]
    [InlineData("2a,2c", "6/0/6")]
    [InlineData("2a,2b:1,2c:2", "6/6/0")]
    [InlineData("2a:1,2b:2,2c:3", "12/0/0")]
    [InlineData("aws.us-west.*,2b:1,2c:2", "4/4/4")]
    [InlineData("BAD.BAD.BAD:1,2b:2,2c:3", "0/12/0")]
    [InlineData("BAD.BAD.BAD:1,2b:2,2c:2", "0/6/6")]
    [InlineData("BAD.BAD.BAD:1,BAD.BAD.BAD:2,aws.us-west.*:3", "4/4/4")]
    public async Task Twelve_connections_pooled(string keys, string expected)
    {
        var app = $"topo-on-{keys}";
        await using (var ds = Counts.Create(Zones.ConnectionString(_cluster, app, keys, "Pooling=true")))
        {
            await using var connections = await Zones.OpenAsync(ds, 12);

            Counts.AssertMap(expected, ds, _cluster);
            Assert.Equal(expected, await Counts.ServerEventuallyAsync(_cluster, app, expected));
            await Counts.DisposeAllAsync(connections);
        }

        Assert.Equal("0/0/0", await Counts.ServerEventuallyAsync(_cluster, app, "0/0/0"));
    }
}

/// <summary>Topology keys when node 1 (the only node of zone 2a) is stopped and out of <c>yb_servers()</c>.</summary>
public sealed class TopologyKeysNodeStoppedTests(ThreeZonesNodeOneStoppedFixture fixture) : IClassFixture<ThreeZonesNodeOneStoppedFixture>
{
    readonly LocalCluster.LocalCluster _cluster = fixture.Cluster;

    [Theory]
    [InlineData("2a:1,2b:2,2c:3", false, "-/12/0")]
    [InlineData("2a:1", false, "-/6/6")]
    [InlineData("2a:1,2b:2,2c:3", true, "-/12/0")]
    [InlineData("2a:1", true, "-/6/6")]
    public async Task Twelve_connections_skip_the_stopped_node(string keys, bool pooled, string expected)
    {
        var app = $"topo-stopped-{keys}-{(pooled ? "on" : "off")}";
        await using (var ds = Counts.Create(Zones.ConnectionString(_cluster, app, keys, $"Pooling={pooled}")))
        {
            await using var connections = await Zones.OpenAsync(ds, 12);

            Counts.AssertMap(expected, ds, _cluster);
            Assert.Equal(expected, await Counts.ServerEventuallyAsync(_cluster, app, expected));
            await Counts.DisposeAllAsync(connections);
        }

        Assert.Equal("-/0/0", await Counts.ServerEventuallyAsync(_cluster, app, "-/0/0"));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Only_the_stopped_nodes_key_with_fallback_to_topology_keys_only_fails_clearly(bool async)
    {
        var app = $"topo-stopped-keys-only-{async}";
        await using var ds = Counts.Create(Zones.ConnectionString(_cluster, app, "2a:1", "Pooling=false;Fallback To Topology Keys Only=true"));

        var error = async
            ? await Assert.ThrowsAsync<NpgsqlException>(async () => await ds.OpenConnectionAsync())
            : Assert.Throws<NpgsqlException>(() => ds.OpenConnection());

        Assert.Contains("aws.us-west.us-west-2a", error.Message, StringComparison.Ordinal);
        Assert.Contains("Fallback To Topology Keys Only", error.Message, StringComparison.Ordinal);
        Counts.AssertMap("-/0/0", ds, _cluster);
        Assert.Equal("-/0/0", await Counts.ServerEventuallyAsync(_cluster, app, "-/0/0"));
    }
}
