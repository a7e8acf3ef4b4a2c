using BrightDb.LocalCluster;
using BrightDb.Npgsql.IntegrationTests.Support;
using Npgsql;

namespace BrightDb.Npgsql.IntegrationTests;

/// <summary>The psycopg2-brightdb tutorial: 30 connections spread 10/10/10, and 15/15/0 with a topology key.</summary>
public sealed class SeedTutorialTests : IAsyncLifetime
{
    LocalCluster.LocalCluster _cluster = null!;

    public async Task InitializeAsync() =>
        _cluster = await LocalCluster.LocalCluster.StartAsync("aws.us-west.us-west-2a", "aws.us-west.us-west-2a", "aws.us-west.us-west-2b");

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    string Hosts => _cluster.Nodes[0].Host;

    [Fact]
    public async Task Thirty_connections_spread_ten_per_node()
    {
        var app = "seed-uniform";
        await using var ds = BrightDbDataSource.Create(
            $"Host={Hosts};Port={_cluster.Nodes[0].Port};Database=bigmath;Username=bigmath;Password=bigmath;Load Balance Hosts=true;Application Name={app};Pooling=false;{Counts.PatientHedging}");
        var connections = new List<NpgsqlConnection>();
        for (var i = 0; i < 30; i++)
            connections.Add(await ds.OpenConnectionAsync());

        var map = ds.GetHostToConnectionMap();
        Assert.Equal(3, map.Count);
        Assert.All(_cluster.Nodes, n => Assert.Equal(10, map[n.Host]));
        var server = await _cluster.GetClientConnectionCountsAsync(app);
        Assert.All(_cluster.Nodes, n => Assert.Equal(10, server[n.Index]));

        foreach (var c in connections)
            await c.DisposeAsync();
        Assert.All(ds.GetHostToConnectionMap().Values, v => Assert.Equal(0, v));
    }

    [Fact]
    public async Task Topology_key_spreads_over_the_two_nodes_of_its_zone()
    {
        var app = "seed-topology";
        await using var ds = BrightDbDataSource.Create(
            $"host={Hosts} port={_cluster.Nodes[0].Port} dbname=bigmath user=bigmath password=bigmath load_balance=true topology_keys=aws.us-west.us-west-2a application_name={app} {Counts.PatientHedgingKey}={Counts.PatientHedgingValue}");
        var connections = new List<NpgsqlConnection>();
        for (var i = 0; i < 30; i++)
            connections.Add(ds.OpenConnection());

        var map = ds.GetHostToConnectionMap();
        Assert.Equal([15, 15, 0], _cluster.Nodes.Select(n => map[n.Host]));
        var server = await _cluster.GetClientConnectionCountsAsync(app);
        Assert.Equal([15, 15, 0], _cluster.Nodes.Select(n => server.GetValueOrDefault(n.Index)));
        foreach (var c in connections)
            c.Dispose();
    }

    [Fact]
    public async Task Connections_created_before_any_open_honour_topology_keys()
    {
        // The EF Core and dependency-injection path: CreateConnection() first, Open() later, on a new data source.
        var app = "seed-create-first";
        await using var ds = BrightDbDataSource.Create(
            $"host={Hosts} port={_cluster.Nodes[0].Port} dbname=bigmath user=bigmath password=bigmath topology_keys=aws.us-west.us-west-2b application_name={app} {Counts.PatientHedgingKey}={Counts.PatientHedgingValue}");
        var connections = Enumerable.Range(0, 4).Select(_ => ds.CreateConnection()).ToList();
        foreach (var c in connections)
            await c.OpenAsync();
        Assert.All(connections, c => Assert.Equal(_cluster.Nodes[2].Host, c.Host));
        Assert.Equal(4, ds.GetHostToConnectionMap()[_cluster.Nodes[2].Host]);
        Assert.Equal(4, (await _cluster.GetClientConnectionCountsAsync(app))[3]);
        foreach (var c in connections)
            await c.DisposeAsync();
    }
}
