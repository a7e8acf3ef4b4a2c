using BrightDb.Npgsql.IntegrationTests.Support;
using Npgsql;

namespace BrightDb.Npgsql.IntegrationTests;

/// <summary>
/// A read/write split from one data source (<see cref="BrightDbDataSource.WithLoadBalance"/>) on nodes 1-3 (primary) and 4-6
/// (read replica): reads through the read view, writes through the write view, one map and one set of counts.
/// </summary>
public sealed class ReadWriteSplitTests(ReadReplicaClusterFixture fixture) : IClassFixture<ReadReplicaClusterFixture>
{
    readonly LocalCluster.LocalCluster _cluster = fixture.Cluster;

    static async Task<NpgsqlConnection> OpenAndQueryAsync(BrightDbDataSource view, bool created)
    {
        NpgsqlConnection connection;
        if (created)
        {
            connection = view.CreateConnection();
            await connection.OpenAsync();
        }
        else
        {
            connection = await view.OpenConnectionAsync();
        }

        await using var command = new NpgsqlCommand("select 1", connection);
        Assert.Equal(1, await command.ExecuteScalarAsync());
        return connection;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Reads_go_to_read_replicas_and_writes_to_primaries_from_one_data_source(bool pooled)
    {
        var app = $"rw-split-{(pooled ? "on" : "off")}";
        await using var ds = Counts.Create(ReadReplicas.ConnectionString(_cluster, app, "any", pooled));
        var reads = ds.WithLoadBalance(LoadBalanceMode.OnlyReadReplica);
        var writes = ds.WithLoadBalance(LoadBalanceMode.OnlyPrimary);
        Assert.Same(reads, ds.WithLoadBalance(LoadBalanceMode.OnlyReadReplica));
        Assert.Equal(LoadBalanceMode.OnlyReadReplica, reads.LoadBalanceHosts);
        Assert.Equal(LoadBalanceMode.Any, ds.LoadBalanceHosts);

        var held = new List<NpgsqlConnection>();
        try
        {
            for (var i = 0; i < 12; i++)
                held.Add(await OpenAndQueryAsync(reads, created: i % 2 == 1));
            Assert.All(held, c => Assert.Contains(c.Host, _cluster.Nodes.Skip(3).Select(n => n.Host)));
            Assert.Equal("0/0/0/4/4/4", await Counts.ServerEventuallyAsync(_cluster, app, "0/0/0/4/4/4"));

            for (var i = 0; i < 12; i++)
                held.Add(await OpenAndQueryAsync(writes, created: i % 2 == 1));
            Assert.Equal("4/4/4/4/4/4", await Counts.ServerEventuallyAsync(_cluster, app, "4/4/4/4/4/4"));
            // One data source: its map (and each view's, the same) shows both.
            Counts.AssertMap("4/4/4/4/4/4", ds, _cluster);
            Counts.AssertMap("4/4/4/4/4/4", reads, _cluster);
        }
        finally
        {
            await Counts.DisposeAllAsync(held);
        }

        // Disposing a view does nothing; disposing the data source ends its views.
        await reads.DisposeAsync();
        await using (var again = await reads.OpenConnectionAsync())
            Assert.Contains(again.Host, _cluster.Nodes.Skip(3).Select(n => n.Host));
        await ds.DisposeAsync();
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await writes.OpenConnectionAsync());
        Assert.Throws<ObjectDisposedException>(() => reads.CreateConnection());
    }

    [Fact]
    public async Task A_view_needs_a_mode_and_a_balancing_data_source()
    {
        await using var ds = Counts.Create(ReadReplicas.ConnectionString(_cluster, "rw-split-bad", "any", pooled: false));
        Assert.Throws<ArgumentOutOfRangeException>(() => ds.WithLoadBalance(LoadBalanceMode.Disabled));
        Assert.Throws<ArgumentOutOfRangeException>(() => ds.WithLoadBalance((LoadBalanceMode)42));
        await using var plain = Counts.Create(ReadReplicas.ConnectionString(_cluster, "rw-split-plain", "false", pooled: false));
        Assert.Throws<InvalidOperationException>(() => plain.WithLoadBalance(LoadBalanceMode.OnlyPrimary));
    }
}
