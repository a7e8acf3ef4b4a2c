using BrightDb.Npgsql.IntegrationTests.Support;
using Npgsql;

namespace BrightDb.Npgsql.IntegrationTests;

/// <summary>The tutorial's 30 connections pooled and unpooled: what closing, reopening and disposing do to both counts.</summary>
public sealed class PoolingTests(SeedClusterFixture fixture) : IClassFixture<SeedClusterFixture>
{
    readonly LocalCluster.LocalCluster _cluster = fixture.Cluster;

    string ConnectionString(string app, string extra) =>
        $"Host={_cluster.Nodes[0].Host};Port={_cluster.Nodes[0].Port};Database=bigmath;Username=bigmath;Password=bigmath;"
        + $"Load Balance Hosts=true;Application Name={app};{Counts.PatientHedging};{extra}";

    [Fact]
    public async Task Unpooled_closing_all_brings_the_map_and_the_servers_to_zero()
    {
        var app = "pool-off-close";
        await using var ds = Counts.Create(ConnectionString(app, "Pooling=false"));
        await using var connections = new ConnectionSet();
        for (var i = 0; i < 30; i++)
            connections.Add(await ds.OpenConnectionAsync());
        Counts.AssertMap("10/10/10", ds, _cluster);
        Assert.Equal("10/10/10", await Counts.ServerEventuallyAsync(_cluster, app, "10/10/10"));

        foreach (var c in connections)
            await c.CloseAsync();
        Counts.AssertMap("0/0/0", ds, _cluster);
        Assert.Equal("0/0/0", await Counts.ServerEventuallyAsync(_cluster, app, "0/0/0"));

        // Reopening after a full close spreads as evenly as the first time.
        connections.Clear();
        for (var i = 0; i < 30; i++)
            connections.Add(ds.OpenConnection());
        Counts.AssertMap("10/10/10", ds, _cluster);
        Assert.Equal("10/10/10", await Counts.ServerEventuallyAsync(_cluster, app, "10/10/10"));
        await Counts.DisposeAllAsync(connections);
        Counts.AssertMap("0/0/0", ds, _cluster);
        Assert.Equal("0/0/0", await Counts.ServerEventuallyAsync(_cluster, app, "0/0/0"));
    }

    [Fact]
    public async Task Pooled_reopening_thirty_reuses_the_same_server_connections_and_disposing_closes_them()
    {
        var app = "pool-on-reuse";
        var ds = Counts.Create(ConnectionString(app, "Pooling=true"));
        try
        {
            await using var connections = new ConnectionSet();
            for (var i = 0; i < 30; i++)
                connections.Add(await ds.OpenConnectionAsync());
            Counts.AssertMap("10/10/10", ds, _cluster);
            Assert.Equal("10/10/10", await Counts.ServerAsync(_cluster, app));
            var firstPids = connections.Select(c => (c.Host, c.ProcessID)).ToHashSet();

            await Counts.DisposeAllAsync(connections);
            // Pooled, the map counts physical connections, which stay open (idle) in each server's pool.
            Counts.AssertMap("10/10/10", ds, _cluster);
            Assert.Equal("10/10/10", await Counts.ServerAsync(_cluster, app));

            connections.Clear();
            for (var i = 0; i < 30; i++)
                connections.Add(ds.OpenConnection());
            Counts.AssertMap("10/10/10", ds, _cluster);
            Assert.Equal("10/10/10", await Counts.ServerAsync(_cluster, app));
            Assert.Equal(firstPids, connections.Select(c => (c.Host, c.ProcessID)).ToHashSet());
            await Counts.DisposeAllAsync(connections);
        }
        finally
        {
            await ds.DisposeAsync();
        }

        Assert.Empty(ds.GetHostToConnectionMap());
        Assert.Equal("0/0/0", await Counts.ServerEventuallyAsync(_cluster, app, "0/0/0"));
    }

    /// <summary>
    /// Connections opened through the driver and connections the application creates and opens itself (EF Core, Dapper,
    /// DI) share one pool per server: once the data source created a connection for others, its idle connections from
    /// earlier opens are closed, and opens through the driver reuse the connections the others returned. A server never
    /// holds two pools' worth of this data source's connections.
    /// </summary>
    [Fact]
    public async Task Pooled_opens_through_the_driver_and_created_connections_share_one_pool_per_server()
    {
        var app = "pool-shared";
        await using var ds = Counts.Create(ConnectionString(app, "Pooling=true"));
        await using (var connections = new ConnectionSet())
        {
            for (var i = 0; i < 6; i++)
            {
                connections.Add(await ds.OpenConnectionAsync());
                await EveryPath.SelectOneAsync(connections[^1]);
            }
        }

        Counts.AssertMap("2/2/2", ds, _cluster);
        Assert.Equal("2/2/2", await Counts.ServerEventuallyAsync(_cluster, app, "2/2/2"));

        // The first connection created for others: the six idle ones are closed, and it opens a connection of its own.
        (string?, int) firstCreated;
        await using (var connection = ds.CreateConnection())
        {
            await connection.OpenAsync();
            await EveryPath.SelectOneAsync(connection);
            firstCreated = (connection.Host, connection.ProcessID);
        }

        var (map, servers) = await EveryPath.MapAndServersEventuallyAsync(ds, _cluster, app);
        Assert.Equal(servers, map);
        Assert.Equal(1, servers.Split('/').Sum(int.Parse));

        // Six more created and opened, held together: 2/2/2, one of them the connection returned above.
        HashSet<(string?, int)> created;
        await using (var connections = new ConnectionSet())
        {
            for (var i = 0; i < 6; i++)
            {
                var connection = ds.CreateConnection();
                connections.Add(connection);
                await connection.OpenAsync();
                await EveryPath.SelectOneAsync(connection);
            }

            created = [.. connections.Select(c => (c.Host, c.ProcessID))];
        }

        Assert.Contains(firstCreated, created);

        Counts.AssertMap("2/2/2", ds, _cluster);
        Assert.Equal("2/2/2", await Counts.ServerEventuallyAsync(_cluster, app, "2/2/2"));

        // Opens through the driver now take the same six idle connections: nothing more is opened on the servers.
        await using (var connections = new ConnectionSet())
        {
            for (var i = 0; i < 6; i++)
            {
                connections.Add(await ds.OpenConnectionAsync());
                await EveryPath.SelectOneAsync(connections[^1]);
            }

            Assert.Equal(created, connections.Select(c => (c.Host, c.ProcessID)).ToHashSet());
            Counts.AssertMap("2/2/2", ds, _cluster);
            Assert.Equal("2/2/2", await Counts.ServerAsync(_cluster, app));
        }
    }

    [Fact]
    public async Task Pooled_disposing_the_data_source_closes_connections_still_in_use_when_returned()
    {
        var app = "pool-on-dispose-busy";
        var ds = Counts.Create(ConnectionString(app, "Pooling=true"));
        await using var connections = new ConnectionSet();
        for (var i = 0; i < 30; i++)
            connections.Add(await ds.OpenConnectionAsync());
        Assert.Equal("10/10/10", await Counts.ServerAsync(_cluster, app));

        await Counts.DisposeAllAsync(connections.Take(15));
        await ds.DisposeAsync();
        await Counts.DisposeAllAsync(connections.Skip(15));
        Assert.Equal("0/0/0", await Counts.ServerEventuallyAsync(_cluster, app, "0/0/0"));
    }

    [Fact]
    public async Task Pool_of_one_to_ten_handing_out_ten_connections_spreads_them_four_three_three()
    {
        var app = "pool-min1-max10";
        await using var ds = Counts.Create(ConnectionString(app, "Minimum Pool Size=1;Maximum Pool Size=10"));
        await using var connections = new ConnectionSet();
        for (var i = 0; i < 10; i++)
            connections.Add(await ds.OpenConnectionAsync());

        var map = Counts.Map(ds, _cluster);
        Assert.True(Counts.Sorted(map) == "3/3/4", $"Driver map: expected 4/3/3 in some order, actual {map}.{Counts.Explain(ds)}");
        Assert.Equal("3/3/4", await Counts.ServerSortedEventuallyAsync(_cluster, app, "3/3/4"));
        Assert.Equal("3/3/4", Counts.Sorted(Counts.Format(_cluster.Nodes.Select(n => (int?)connections.Count(c => c.Host == n.Host)))));
        await Counts.DisposeAllAsync(connections);
    }
}
