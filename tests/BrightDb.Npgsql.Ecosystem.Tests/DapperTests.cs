using Dapper;
using Npgsql;

namespace BrightDb.Npgsql.Ecosystem.Tests;

[Collection(ClusterCollection.Name)]
public sealed class DapperTests(SeedClusterFixture fixture)
{
    sealed record ServerRow(string Address, int Port, long Value);

    [Fact]
    public async Task Dapper_queries_run_on_connections_balanced_over_the_nodes()
    {
        await using var dataSource = BrightDbDataSource.Create(fixture.ConnectionString("dapper-open"));
        var connections = new List<NpgsqlConnection>();
        var seen = new List<string>();
        for (var i = 0; i < 30; i++)
        {
            var connection = await dataSource.OpenConnectionAsync();
            connections.Add(connection);
            var row = await connection.QuerySingleAsync<ServerRow>(
                "select host(inet_server_addr()) as Address, inet_server_port() as Port, @i::bigint * 2 as Value", new { i });
            Assert.Equal(i * 2, row.Value);
            seen.Add(row.Address);
        }

        Assert.All(fixture.Cluster.Nodes, n => Assert.Equal(10, seen.Count(a => a == n.Host)));
        Assert.Equal(new[] { 10, 10, 10 }, await Ecosystem.ServerCountsAsync(fixture.Cluster, "dapper-open"));
        var map = dataSource.GetHostToConnectionMap();
        Assert.All(fixture.Cluster.Nodes, n => Assert.Equal(10, map[n.Host]));

        var table = $"eco_dapper_{Guid.NewGuid():N}";
        var writer = connections[0];
        await writer.ExecuteAsync($"create table {table} (id int primary key, name text not null)");
        await using (var transaction = await writer.BeginTransactionAsync())
        {
            Assert.Equal(3, await writer.ExecuteAsync($"insert into {table} (id, name) values (@Id, @Name)",
                new[] { new { Id = 1, Name = "a" }, new { Id = 2, Name = "b" }, new { Id = 3, Name = "c" } }, transaction));
            await transaction.CommitAsync();
        }

        Assert.Equal(["a", "b", "c"], await writer.QueryAsync<string>($"select name from {table} order by id"));
        await writer.ExecuteAsync($"drop table {table}");
        foreach (var connection in connections)
            await connection.DisposeAsync();
    }

    [Fact]
    public async Task Dapper_opens_the_closed_connections_the_data_source_creates()
    {
        await using var dataSource = BrightDbDataSource.Create(fixture.ConnectionString("dapper-create"));
        // The first open discovers the cluster; connections created afterwards are spread over all of it.
        await using (var first = await dataSource.OpenConnectionAsync())
            Assert.Equal(1, await first.ExecuteScalarAsync<int>("select 1"));

        var held = new List<NpgsqlConnection>();
        for (var i = 0; i < 30; i++)
        {
            var connection = dataSource.CreateConnection();
            held.Add(connection);
            await connection.OpenAsync();
            Assert.Equal("bigmath", await connection.ExecuteScalarAsync<string>("select current_user"));
        }

        Assert.Equal(new[] { 10, 10, 10 }, await Ecosystem.ServerCountsAsync(fixture.Cluster, "dapper-create"));
        foreach (var connection in held)
            await connection.DisposeAsync();

        // Dapper opens a closed connection itself and closes it after the query.
        var unopened = dataSource.CreateConnection();
        await using (unopened)
            Assert.Equal(42, await unopened.QuerySingleAsync<int>("select 42"));
        Assert.Equal(System.Data.ConnectionState.Closed, unopened.State);
    }
}
