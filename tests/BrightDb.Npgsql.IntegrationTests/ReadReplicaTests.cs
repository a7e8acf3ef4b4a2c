using BrightDb.Npgsql.IntegrationTests.Support;
using Npgsql;

namespace BrightDb.Npgsql.IntegrationTests;

static class ReadReplicas
{
    internal static string ConnectionString(LocalCluster.LocalCluster cluster, string app, string mode, bool pooled) =>
        $"Host={string.Join(",", cluster.Nodes.Select(n => n.Host))};Port={cluster.Nodes[0].Port};Database=bigmath;Username=bigmath;Password=bigmath;"
        + $"Load Balance Hosts={mode};Application Name={app};Pooling={pooled};{Counts.NoHedging}";
}

/// <summary>Load Balance Hosts by node type on nodes 1-3 (primary) and 4-6 (read replica): 12 connections per case.</summary>
public sealed class ReadReplicaTests(ReadReplicaClusterFixture fixture) : IClassFixture<ReadReplicaClusterFixture>
{
    readonly LocalCluster.LocalCluster _cluster = fixture.Cluster;

    [Theory]
    [InlineData("any", false, "2/2/2/2/2/2")]
    [InlineData("true", false, "2/2/2/2/2/2")]
    [InlineData("only-rr", false, "0/0/0/4/4/4")]
    [InlineData("only-primary", false, "4/4/4/0/0/0")]
    [InlineData("prefer-rr", false, "0/0/0/4/4/4")]
    [InlineData("prefer-primary", false, "4/4/4/0/0/0")]
    [InlineData("any", true, "2/2/2/2/2/2")]
    [InlineData("only-rr", true, "0/0/0/4/4/4")]
    [InlineData("only-primary", true, "4/4/4/0/0/0")]
    [InlineData("prefer-rr", true, "0/0/0/4/4/4")]
    public async Task Twelve_connections_by_node_type(string mode, bool pooled, string expected)
    {
        var app = $"rr-{mode}-{(pooled ? "on" : "off")}";
        await using (var ds = Counts.Create(ReadReplicas.ConnectionString(_cluster, app, mode, pooled)))
        {
            await using var connections = await Zones.OpenAsync(ds, 12);

            Counts.AssertMap(expected, ds, _cluster);
            Assert.Equal(expected, await Counts.ServerEventuallyAsync(_cluster, app, expected));
            await Counts.DisposeAllAsync(connections);
        }

        Assert.Equal("0/0/0/0/0/0", await Counts.ServerEventuallyAsync(_cluster, app, "0/0/0/0/0/0"));
    }
}

/// <summary>The same cluster with its read replicas (nodes 4-6) stopped.</summary>
public sealed class ReadReplicasStoppedTests(ReadReplicasStoppedFixture fixture) : IClassFixture<ReadReplicasStoppedFixture>
{
    readonly LocalCluster.LocalCluster _cluster = fixture.Cluster;

    [Theory]
    [InlineData("prefer-rr", false)]
    [InlineData("prefer-rr", true)]
    [InlineData("any", false)]
    public async Task Twelve_connections_go_to_the_primaries(string mode, bool pooled)
    {
        var app = $"rr-stopped-{mode}-{(pooled ? "on" : "off")}";
        await using (var ds = Counts.Create(ReadReplicas.ConnectionString(_cluster, app, mode, pooled)))
        {
            await using var connections = await Zones.OpenAsync(ds, 12);

            Counts.AssertMap("4/4/4/-/-/-", ds, _cluster);
            Assert.Equal("4/4/4/-/-/-", await Counts.ServerEventuallyAsync(_cluster, app, "4/4/4/-/-/-"));
            await Counts.DisposeAllAsync(connections);
        }

        Assert.Equal("0/0/0/-/-/-", await Counts.ServerEventuallyAsync(_cluster, app, "0/0/0/-/-/-"));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Only_rr_fails_clearly(bool async)
    {
        var app = $"rr-stopped-only-rr-{async}";
        await using var ds = Counts.Create(ReadReplicas.ConnectionString(_cluster, app, "only-rr", pooled: false));

        var error = async
            ? await Assert.ThrowsAsync<NpgsqlException>(async () => await ds.OpenConnectionAsync())
            : Assert.Throws<NpgsqlException>(() => ds.OpenConnection());

        Assert.Contains("read replica", error.Message, StringComparison.OrdinalIgnoreCase);
        Counts.AssertMap("0/0/0/-/-/-", ds, _cluster);
        Assert.Equal("0/0/0/-/-/-", await Counts.ServerEventuallyAsync(_cluster, app, "0/0/0/-/-/-"));
    }
}
