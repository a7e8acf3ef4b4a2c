using System.Net.Sockets;
using Npgsql;

namespace BrightDb.LocalCluster.IntegrationTests;

/// <summary>yb_servers() on the tutorial's cluster, and how stop, start and kill change (or do not change) the membership.</summary>
public sealed class MembershipTests(ThreeNodeFixture fixture) : IClassFixture<ThreeNodeFixture>
{
    LocalCluster Cluster => fixture.Cluster;

    [Fact]
    public async Task Yb_servers_has_exactly_the_yugabyte_columns_and_the_placements()
    {
        await using var connection = Db.Connection(Cluster.ConnectionString(2));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("select * from yb_servers() order by host", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var columns = Enumerable.Range(0, reader.FieldCount).Select(i => $"{reader.GetName(i)} {reader.GetDataTypeName(i)}").ToArray();
        Assert.Equal(
            ["host text", "port bigint", "num_connections bigint", "node_type text", "cloud text", "region text", "zone text",
             "public_ip text", "uuid text", "universe_uuid text"],
            columns);
        var rows = new List<(string Host, long Port, string Type, string Placement, string Uuid, string Universe)>();
        while (await reader.ReadAsync())
        {
            rows.Add((reader.GetString(0), reader.GetInt64(1), reader.GetString(3),
                $"{reader.GetString(4)}.{reader.GetString(5)}.{reader.GetString(6)}", reader.GetString(8), reader.GetString(9)));
        }

        Assert.Equal(3, rows.Count);
        for (var i = 0; i < 3; i++)
        {
            var node = Cluster.Node(i + 1);
            Assert.Equal(node.Host, rows[i].Host);
            Assert.Equal(2521, rows[i].Port);
            Assert.Equal("primary", rows[i].Type);
            Assert.Equal(Db.SeedPlacements[i], rows[i].Placement);
            Assert.Equal(node.Uuid, rows[i].Uuid);
            Assert.Equal(Cluster.UniverseUuid, rows[i].Universe);
        }
    }

    [Fact]
    public async Task Nodes_listen_on_their_own_loopback_address_of_the_block()
    {
        Assert.Equal([1, 2, 3], Cluster.Nodes.Select(n => n.Index));
        foreach (var node in Cluster.Nodes)
        {
            Assert.Equal($"127.0.{Cluster.AddressBlock}.{node.Index}", node.Host);
            Assert.Equal(2521, node.Port);
            Assert.Equal(NodeState.Running, node.State);
            Assert.Equal(
                $"Host={node.Host};Port=2521;Database=bigmath;Username=bigmath;Password=bigmath",
                Cluster.ConnectionString(node.Index));
            Assert.Equal(node.Host, await Db.ScalarAsync<string>(Cluster.ConnectionString(node.Index), "select host(inet_server_addr())"));
        }

        Assert.Throws<ArgumentOutOfRangeException>(() => Cluster.Node(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => Cluster.Node(4));
    }

    [Fact]
    public async Task Bigmath_is_no_superuser_and_cannot_read_files_itself()
    {
        Assert.False(await Db.ScalarAsync<bool>(Cluster.ConnectionString(1), "select rolsuper from pg_roles where rolname = current_user"));
        var error = await Assert.ThrowsAsync<PostgresException>(() =>
            Db.ScalarAsync<string>(Cluster.ConnectionString(1), "select pg_read_file('brightdb_membership')"));
        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, error.SqlState);
    }

    [Fact]
    public async Task Stop_removes_the_node_from_every_view_and_start_brings_it_back()
    {
        await Cluster.StopNodeAsync(3);
        try
        {
            Assert.Equal(NodeState.Stopped, Cluster.Node(3).State);
            Assert.Equal(Db.Hosts(Cluster, 1, 2), await Db.YbServerHostsAsync(Cluster, 1));
            Assert.Equal(Db.Hosts(Cluster, 1, 2), await Db.YbServerHostsAsync(Cluster, 2));
            await AssertRefusedAsync(3);
        }
        finally
        {
            await Cluster.StartNodeAsync(3);
        }

        Assert.Equal(NodeState.Running, Cluster.Node(3).State);
        Assert.Equal(Db.Hosts(Cluster, 1, 2, 3), await Db.YbServerHostsAsync(Cluster, 1));
        Assert.Equal(Db.Hosts(Cluster, 1, 2, 3), await Db.YbServerHostsAsync(Cluster, 3));
    }

    [Fact]
    public async Task A_killed_node_refuses_connections_but_stays_listed_until_started_again()
    {
        await Cluster.KillNodeAsync(2);
        try
        {
            Assert.Equal(NodeState.Killed, Cluster.Node(2).State);
            await AssertRefusedAsync(2);
            Assert.Equal(Db.Hosts(Cluster, 1, 2, 3), await Db.YbServerHostsAsync(Cluster, 1));
            await Assert.ThrowsAsync<InvalidOperationException>(() => Cluster.KillNodeAsync(2));
        }
        finally
        {
            await Cluster.StartNodeAsync(2);
        }

        Assert.Equal(1, await Db.ScalarAsync<int>(Cluster.ConnectionString(2), "select 1"));
        Assert.Equal(Db.Hosts(Cluster, 1, 2, 3), await Db.YbServerHostsAsync(Cluster, 2));
    }

    [Fact]
    public async Task Starting_or_resuming_a_running_node_changes_nothing()
    {
        await Cluster.StartNodeAsync(1);
        Assert.Equal(NodeState.Running, Cluster.Node(1).State);
        await Cluster.ResumeNodeAsync(1);
        Assert.Equal(NodeState.Running, Cluster.Node(1).State);
        Assert.Equal(1, await Db.ScalarAsync<int>(Cluster.ConnectionString(1), "select 1"));
    }

    async Task AssertRefusedAsync(int index)
    {
        await using var connection = Db.Connection(Cluster.ConnectionString(index));
        var error = await Assert.ThrowsAsync<NpgsqlException>(() => connection.OpenAsync());
        var socket = Assert.IsType<SocketException>(error.InnerException);
        Assert.Equal(SocketError.ConnectionRefused, socket.SocketErrorCode);
    }
}
