using Npgsql;

namespace BrightDb.LocalCluster.IntegrationTests;

/// <summary>Connection counts as the servers see them, and a per-node password change.</summary>
public sealed class ConnectionCountTests(ThreeNodeFixture fixture) : IClassFixture<ThreeNodeFixture>
{
    LocalCluster Cluster => fixture.Cluster;

    [Fact]
    public async Task Counts_client_backends_of_bigmath_per_node_filtered_by_application_name()
    {
        var open = new List<NpgsqlConnection>();
        try
        {
            foreach (var (node, app, count) in new[] { (1, "app-a", 3), (2, "app-b", 2), (2, "app-a", 1) })
            {
                for (var i = 0; i < count; i++)
                {
                    var connection = Db.Connection(Cluster.ConnectionString(node), applicationName: app);
                    await connection.OpenAsync();
                    open.Add(connection);
                }
            }

            // The tool's superuser is not a client of bigmath: an admin connection must not be counted.
            var admin = Db.Connection(Cluster.AdminConnectionString(3));
            await admin.OpenAsync();
            open.Add(admin);

            Assert.Equal(new Dictionary<int, int> { [1] = 3, [2] = 3, [3] = 0 }, await Cluster.GetClientConnectionCountsAsync());
            Assert.Equal(new Dictionary<int, int> { [1] = 3, [2] = 1, [3] = 0 }, await Cluster.GetClientConnectionCountsAsync("app-a"));
            Assert.Equal(new Dictionary<int, int> { [1] = 0, [2] = 2, [3] = 0 }, await Cluster.GetClientConnectionCountsAsync("app-b"));
        }
        finally
        {
            foreach (var connection in open)
            {
                await connection.DisposeAsync();
            }
        }

        await Cluster.StopNodeAsync(3);
        try
        {
            var counts = await Cluster.GetClientConnectionCountsAsync();
            Assert.Equal([1, 2], counts.Keys.Order());
        }
        finally
        {
            await Cluster.StartNodeAsync(3);
        }
    }

    [Fact]
    public async Task A_password_changed_on_one_node_fails_authentication_there_only()
    {
        await Cluster.SetUserPasswordAsync(2, "not-bigmath");
        try
        {
            var error = await Assert.ThrowsAsync<PostgresException>(() => Db.ScalarAsync<int>(Cluster.ConnectionString(2), "select 1"));
            Assert.Equal(PostgresErrorCodes.InvalidPassword, error.SqlState);
            Assert.Equal(1, await Db.ScalarAsync<int>(Cluster.ConnectionString(1), "select 1"));
            var changed = new NpgsqlConnectionStringBuilder(Cluster.ConnectionString(2)) { Password = "not-bigmath" }.ConnectionString;
            Assert.Equal(1, await Db.ScalarAsync<int>(changed, "select 1"));
        }
        finally
        {
            await Cluster.SetUserPasswordAsync(2, Cluster.Password);
        }

        Assert.Equal(1, await Db.ScalarAsync<int>(Cluster.ConnectionString(2), "select 1"));
    }

    [Fact]
    public async Task Counting_survives_the_tools_pooled_connections_being_terminated_or_the_node_restarted()
    {
        Assert.Equal(0, (await Cluster.GetClientConnectionCountsAsync("nobody"))[1]);
        await using (var admin = Db.Connection(Cluster.AdminConnectionString(1)))
        {
            await admin.OpenAsync();
            await using var terminate = new NpgsqlCommand(
                "select count(pg_terminate_backend(pid)) from pg_stat_activity where application_name = 'bm-dev-ctl' and pid <> pg_backend_pid()",
                admin);
            Assert.True((long)(await terminate.ExecuteScalarAsync())! >= 1, "the tool keeps a pooled connection to node 1");
        }

        Assert.Equal(0, (await Cluster.GetClientConnectionCountsAsync("nobody"))[1]);
        await Cluster.KillNodeAsync(1);
        await Cluster.StartNodeAsync(1);
        Assert.Equal(0, (await Cluster.GetClientConnectionCountsAsync("nobody"))[1]);
    }
}
