using System.Data;
using BrightDb.Npgsql.IntegrationTests.Support;
using Npgsql;

namespace BrightDb.Npgsql.IntegrationTests;

/// <summary>Every way a connection opens, closes or breaks is counted: pooled and unpooled, sync and async, EF Core's path.</summary>
public sealed class ConnectionLifecycleTests(SeedClusterFixture fixture) : IClassFixture<SeedClusterFixture>
{
    readonly LocalCluster.LocalCluster _cluster = fixture.Cluster;

    string Node1 => _cluster.Nodes[0].Host;

    BrightDbDataSource Create(string app, bool pooled, string extra = "") => Counts.Create(
        $"Host={Node1};Port={_cluster.Nodes[0].Port};Database=bigmath;Username=bigmath;Password=bigmath;"
        + $"Load Balance Hosts=true;Application Name={app};Pooling={pooled};{Counts.NoHedging};{extra}");

    static async Task<NpgsqlConnection> OpenAsync(BrightDbDataSource ds, bool async) =>
        async ? await ds.OpenConnectionAsync() : ds.OpenConnection();

    static async Task OpenAsync(NpgsqlConnection connection, bool async)
    {
        if (async)
            await connection.OpenAsync();
        else
            connection.Open();
    }

    static async Task CloseAsync(NpgsqlConnection connection, bool async)
    {
        if (async)
            await connection.CloseAsync();
        else
            connection.Close();
    }

    /// <summary>Pooled, the map counts physical connections: a close leaves them open, idle; unpooled, a close ends them.</summary>
    static string AfterClose(bool pooled, string open, string unpooledAfterClose) => pooled ? open : unpooledAfterClose;

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public async Task Opens_are_counted_and_closes_counted_down(bool pooled, bool async)
    {
        var app = $"life-open-{(pooled ? "on" : "off")}-{(async ? "async" : "sync")}";
        var ds = Create(app, pooled);
        try
        {
            await using var connections = new ConnectionSet();
            for (var i = 0; i < 6; i++)
                connections.Add(await OpenAsync(ds, async));
            Counts.AssertMap("2/2/2", ds, _cluster);
            Assert.Equal("2/2/2", await Counts.ServerEventuallyAsync(_cluster, app, "2/2/2"));

            // Closing node 1's two connections makes it the least loaded: the next two opens must go there.
            var onNode1 = connections.Where(c => c.Host == Node1).ToList();
            Assert.Equal(2, onNode1.Count);
            foreach (var c in onNode1)
                await CloseAsync(c, async);
            Counts.AssertMap(AfterClose(pooled, "2/2/2", "0/2/2"), ds, _cluster);
            var expectedServer = AfterClose(pooled, "2/2/2", "0/2/2");
            Assert.Equal(expectedServer, await Counts.ServerEventuallyAsync(_cluster, app, expectedServer));

            var reopened = new[] { await OpenAsync(ds, async), await OpenAsync(ds, async) };
            connections.AddRange(reopened);
            Assert.All(reopened, c => Assert.Equal(Node1, c.Host));
            Counts.AssertMap("2/2/2", ds, _cluster);
            Assert.Equal("2/2/2", await Counts.ServerEventuallyAsync(_cluster, app, "2/2/2"));

            foreach (var c in connections)
                await CloseAsync(c, async);
            Counts.AssertMap(AfterClose(pooled, "2/2/2", "0/0/0"), ds, _cluster);
            expectedServer = AfterClose(pooled, "2/2/2", "0/0/0");
            Assert.Equal(expectedServer, await Counts.ServerEventuallyAsync(_cluster, app, expectedServer));
        }
        finally
        {
            await ds.DisposeAsync();
        }

        Assert.Equal("0/0/0", await Counts.ServerEventuallyAsync(_cluster, app, "0/0/0"));
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public async Task CreateConnection_then_Open_is_counted_on_open_and_counted_down_on_close(bool pooled, bool async)
    {
        var app = $"life-create-{(pooled ? "on" : "off")}-{(async ? "async" : "sync")}";
        var ds = Create(app, pooled);
        try
        {
            // As EF Core does: create a connection, open it, use it.
            await using var connections = new ConnectionSet();
            for (var i = 0; i < 30; i++)
            {
                var connection = ds.CreateConnection();
                Assert.Equal(ConnectionState.Closed, connection.State);
                await OpenAsync(connection, async);
                connections.Add(connection);
            }

            Counts.AssertMap("10/10/10", ds, _cluster);
            Assert.Equal("10/10/10", await Counts.ServerEventuallyAsync(_cluster, app, "10/10/10"));

            // Created but never opened: not counted.
            await using (ds.CreateConnection())
            {
                Counts.AssertMap("10/10/10", ds, _cluster);
                Assert.Equal("10/10/10", await Counts.ServerAsync(_cluster, app));
            }

            Counts.AssertMap("10/10/10", ds, _cluster);

            foreach (var c in connections)
                await CloseAsync(c, async);
            Counts.AssertMap(AfterClose(pooled, "10/10/10", "0/0/0"), ds, _cluster);
            var expectedServer = AfterClose(pooled, "10/10/10", "0/0/0");
            Assert.Equal(expectedServer, await Counts.ServerEventuallyAsync(_cluster, app, expectedServer));

            // EF Core reopens the same connection object for each operation: counted again, on the same servers.
            foreach (var c in connections)
                await OpenAsync(c, async);
            Counts.AssertMap("10/10/10", ds, _cluster);
            Assert.Equal("10/10/10", await Counts.ServerEventuallyAsync(_cluster, app, "10/10/10"));

            await Counts.DisposeAllAsync(connections);
            Counts.AssertMap(AfterClose(pooled, "10/10/10", "0/0/0"), ds, _cluster);
        }
        finally
        {
            await ds.DisposeAsync();
        }

        Assert.Equal("0/0/0", await Counts.ServerEventuallyAsync(_cluster, app, "0/0/0"));
    }

    /// <remarks>
    /// Also with <c>Host Recheck Seconds=1</c>: Npgsql then marks the host of a broken connection offline for a second, and
    /// its failover would send the next open elsewhere; the driver clears that mark (whether a server is skipped is its
    /// decision), so the next open still goes to the least-loaded server.
    /// </remarks>
    [Theory]
    [InlineData(false, false, "")]
    [InlineData(false, true, "")]
    [InlineData(true, false, "")]
    [InlineData(true, true, "")]
    [InlineData(false, true, "Host Recheck Seconds=1")]
    [InlineData(true, false, "Host Recheck Seconds=1")]
    [InlineData(true, true, "Host Recheck Seconds=1")]
    public async Task A_connection_the_server_terminates_is_counted_down(bool pooled, bool async, string extra)
    {
        var app = $"life-break-{(pooled ? "on" : "off")}-{(async ? "async" : "sync")}{(extra.Length > 0 ? "-recheck" : "")}";
        var ds = Create(app, pooled, extra);
        try
        {
            await using var connections = new ConnectionSet();
            for (var i = 0; i < 6; i++)
                connections.Add(await OpenAsync(ds, async));
            Counts.AssertMap("2/2/2", ds, _cluster);
            Assert.Equal("2/2/2", await Counts.ServerEventuallyAsync(_cluster, app, "2/2/2"));

            var node2 = _cluster.Nodes[1].Host;
            var victim = connections.First(c => c.Host == node2);
            await Counts.TerminateBackendAsync(_cluster, node2, victim.ProcessID);
            Assert.Equal("2/1/2", await Counts.ServerEventuallyAsync(_cluster, app, "2/1/2"));

            // The client learns of the break at its next use of the connection.
            await using (var command = new NpgsqlCommand("select 1", victim))
            {
                var error = async
                    ? await Assert.ThrowsAnyAsync<NpgsqlException>(() => command.ExecuteScalarAsync())
                    : Assert.ThrowsAny<NpgsqlException>(() => command.ExecuteScalar());
                Assert.NotNull(error);
            }

            Assert.NotEqual(ConnectionState.Open, victim.State);
            Counts.AssertMap("2/1/2", ds, _cluster);

            // The broken connection no longer weighs on node 2: it is the least loaded, and gets the next open.
            var replacement = await OpenAsync(ds, async);
            connections.Add(replacement);
            Assert.Equal(node2, replacement.Host);
            Counts.AssertMap("2/2/2", ds, _cluster);
            Assert.Equal("2/2/2", await Counts.ServerEventuallyAsync(_cluster, app, "2/2/2"));

            // Closing the broken connection does not count it down a second time.
            await CloseAsync(victim, async);
            await victim.DisposeAsync();
            Counts.AssertMap("2/2/2", ds, _cluster);
            connections.Add(await OpenAsync(ds, async));
            var map = ds.GetHostToConnectionMap();
            Assert.True(map.Values.Sum() == 7 && map.Values.Max() - map.Values.Min() <= 1, $"map {Counts.Map(ds, _cluster)}.{Counts.Explain(ds)}");

            // Unpooled, closing ends the connections. Pooled, the closed connections idle in their pools (Npgsql may close
            // some on return, such as those of node 2 older than the break), and the map counts what the servers count.
            await Counts.DisposeAllAsync(connections);
            var afterClose = pooled ? Counts.Map(ds, _cluster) : "0/0/0";
            Counts.AssertMap(afterClose, ds, _cluster);
            Assert.Equal(afterClose, await Counts.ServerEventuallyAsync(_cluster, app, afterClose));
        }
        finally
        {
            await ds.DisposeAsync();
        }

        Assert.Equal("0/0/0", await Counts.ServerEventuallyAsync(_cluster, app, "0/0/0"));
    }
}
