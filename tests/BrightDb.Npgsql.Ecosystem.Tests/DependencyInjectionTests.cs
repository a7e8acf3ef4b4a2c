using System.Data.Common;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace BrightDb.Npgsql.Ecosystem.Tests;

[Collection(ClusterCollection.Name)]
public sealed class DependencyInjectionTests(SeedClusterFixture fixture)
{
    [Fact]
    public async Task Registers_the_data_source_and_connections_with_the_containers_logger_factory()
    {
        var logs = new CapturingLoggerProvider();
        var services = new ServiceCollection();
        services.AddLogging(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Debug));
        services.AddBrightDbDataSource(fixture.ConnectionString("di-default"), b => b.Name = "di-default");

        await using var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateScopes = true, ValidateOnBuild = true });
        var dataSource = provider.GetRequiredService<BrightDbDataSource>();
        Assert.Equal("di-default", dataSource.Name);
        Assert.Same(dataSource, provider.GetRequiredService<DbDataSource>());
        Assert.Same(dataSource, provider.GetRequiredService<BrightDbDataSource>());

        await using (var scope = provider.CreateAsyncScope())
        {
            var connection = scope.ServiceProvider.GetRequiredService<NpgsqlConnection>();
            Assert.Equal(System.Data.ConnectionState.Closed, connection.State);
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand("select current_user", connection);
            Assert.Equal("bigmath", await command.ExecuteScalarAsync());

            var dbConnection = scope.ServiceProvider.GetRequiredService<DbConnection>();
            Assert.IsType<NpgsqlConnection>(dbConnection);
            Assert.NotSame(connection, dbConnection);
            await dbConnection.OpenAsync();
            await connection.CloseAsync();
            await dbConnection.CloseAsync();
        }

        // The first open discovered the cluster: the topology change went to the container's logger factory.
        var change = Assert.Single(logs.Entries, e => e.Category == "BrightDb.Npgsql.Topology" && e.EventId.Id == 1001);
        Assert.Equal(LogLevel.Information, change.Level);
        Assert.Equal("BrightDb.Npgsql.Topology", change.Category);
        Assert.Contains("di-default", change.Message, StringComparison.Ordinal);
        Assert.All(fixture.Cluster.Nodes, n => Assert.Contains(n.Host, change.Message, StringComparison.Ordinal));
        // Each choice of an open is logged at Debug on the balancing category.
        await (await dataSource.OpenConnectionAsync()).DisposeAsync();
        Assert.Contains(logs.Entries, e => e is { Category: "BrightDb.Npgsql.Balancing", Level: LogLevel.Debug, EventId.Id: 2001 });
    }

    sealed class TokenService(string token)
    {
        public int Calls;

        public ValueTask<string> GetTokenAsync()
        {
            Interlocked.Increment(ref Calls);
            return ValueTask.FromResult(token);
        }
    }

    /// <summary>The overload given the container: the name and a periodic password provider come from registered services.</summary>
    [Fact]
    public async Task The_configure_overload_given_the_container_takes_services_from_it()
    {
        var services = new ServiceCollection();
        var tokens = new TokenService(fixture.Cluster.Password);
        services.AddSingleton(tokens);
        var connectionString = fixture.ConnectionString("di-provider").Replace($"Password={fixture.Cluster.Password};", "", StringComparison.Ordinal);
        Assert.DoesNotContain("Password", connectionString, StringComparison.OrdinalIgnoreCase);
        services.AddBrightDbDataSource(connectionString, (sp, b) =>
        {
            b.Name = "di-provider";
            var service = sp.GetRequiredService<TokenService>();
            b.UsePeriodicPasswordProvider((_, _) => service.GetTokenAsync(), TimeSpan.FromMinutes(10), TimeSpan.FromSeconds(1));
        });

        await using var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateScopes = true, ValidateOnBuild = true });
        var dataSource = provider.GetRequiredService<BrightDbDataSource>();
        Assert.Equal("di-provider", dataSource.Name);
        var held = new List<NpgsqlConnection>();
        for (var i = 0; i < 3; i++)
        {
            var connection = provider.GetRequiredService<NpgsqlConnection>();
            held.Add(connection);
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand("select current_user", connection);
            Assert.Equal("bigmath", await command.ExecuteScalarAsync());
        }

        Assert.Equal(fixture.Cluster.Nodes.Select(n => n.Host).Order(), held.Select(c => c.Host!).Order());
        Assert.Equal(1, Volatile.Read(ref tokens.Calls));
        foreach (var connection in held)
            await connection.DisposeAsync();
    }

    [Fact]
    public async Task Views_registered_by_key_share_the_data_source_and_choose_by_node_type()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddBrightDbDataSource(fixture.ConnectionString("di-views"), b => b.Name = "di-views");
        services.AddBrightDbDataSourceView("writes", LoadBalanceMode.OnlyPrimary);
        services.AddBrightDbDataSourceView("reads", LoadBalanceMode.OnlyReadReplica);

        await using var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateScopes = true, ValidateOnBuild = true });
        var dataSource = provider.GetRequiredService<BrightDbDataSource>();
        var writes = provider.GetRequiredKeyedService<BrightDbDataSource>("writes");
        Assert.Same(dataSource.WithLoadBalance(LoadBalanceMode.OnlyPrimary), writes);
        Assert.Same(writes, provider.GetRequiredKeyedService<DbDataSource>("writes"));
        Assert.Equal(LoadBalanceMode.OnlyPrimary, writes.LoadBalanceHosts);

        await using (var scope = provider.CreateAsyncScope())
        {
            var connection = scope.ServiceProvider.GetRequiredKeyedService<NpgsqlConnection>("writes");
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand("select 1", connection);
            Assert.Equal(1, await command.ExecuteScalarAsync());
            // The view's connection counts in its data source's map.
            Assert.Equal(1, dataSource.GetHostToConnectionMap()[connection.Host!]);
            await connection.CloseAsync();
        }

        // The tutorial's cluster has no read replica: the read view says so (when its connection is created, as for the data source).
        var error = await Assert.ThrowsAnyAsync<NpgsqlException>(async () =>
        {
            await using var scope = provider.CreateAsyncScope();
            var reads = scope.ServiceProvider.GetRequiredKeyedService<DbConnection>("reads");
            await reads.OpenAsync();
        });
        Assert.Contains("read", error.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Keyed_registrations_are_separate_data_sources()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddBrightDbDataSource(fixture.ConnectionString("di-default-2"), b => b.Name = "di-plain");
        services.AddBrightDbDataSource(fixture.ConnectionString("di-keyed", "Topology Keys=aws.us-west.us-west-2b"),
            b => b.Name = "di-reports", serviceKey: "reports");
        // A second registration for the same key is ignored, as in Npgsql.DependencyInjection.
        services.AddBrightDbDataSource(fixture.ConnectionString("di-ignored"), b => b.Name = "di-ignored", serviceKey: "reports");

        await using var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateScopes = true, ValidateOnBuild = true });
        var plain = provider.GetRequiredService<BrightDbDataSource>();
        var reports = provider.GetRequiredKeyedService<BrightDbDataSource>("reports");
        Assert.Equal("di-plain", plain.Name);
        Assert.Equal("di-reports", reports.Name);
        Assert.Same(reports, provider.GetRequiredKeyedService<DbDataSource>("reports"));
        Assert.Null(provider.GetKeyedService<DbDataSource>("other"));

        // Connections resolved from the container are created before the data source has discovered the cluster (creating
        // one does no I/O): the keyed data source's topology keys still decide where they go.
        var connections = new List<NpgsqlConnection>();
        for (var i = 0; i < 4; i++)
        {
            var connection = provider.GetRequiredKeyedService<NpgsqlConnection>("reports");
            await connection.OpenAsync();
            connections.Add(connection);
        }

        Assert.IsType<NpgsqlConnection>(provider.GetRequiredKeyedService<DbConnection>("reports"));
        // The keyed data source has its own settings: every connection went to the us-west-2b node, and discovering the
        // cluster left no connection behind anywhere (closes reach the servers asynchronously, hence the wait).
        Assert.All(connections, c => Assert.Equal(fixture.Cluster.Nodes[2].Host, c.Host));
        var expected = new[] { 0, 0, 4 };
        await Ecosystem.EventuallyAsync(async () => (await Ecosystem.ServerCountsAsync(fixture.Cluster, "di-keyed")).SequenceEqual(expected), TimeSpan.FromSeconds(10));
        Assert.Equal(expected, await Ecosystem.ServerCountsAsync(fixture.Cluster, "di-keyed"));
        var map = reports.GetHostToConnectionMap();
        Assert.Equal(expected, fixture.Cluster.Nodes.Select(n => map.GetValueOrDefault(n.Host)));
        foreach (var connection in connections)
            await connection.DisposeAsync();
    }

    [Fact]
    public async Task Scoped_connection_lifetime_gives_one_connection_per_scope()
    {
        var services = new ServiceCollection();
        services.AddBrightDbDataSource(fixture.ConnectionString("di-scoped"), connectionLifetime: ServiceLifetime.Scoped);
        await using var provider = services.BuildServiceProvider();
        await using var scope = provider.CreateAsyncScope();
        Assert.Same(scope.ServiceProvider.GetRequiredService<NpgsqlConnection>(), scope.ServiceProvider.GetRequiredService<DbConnection>());
        await using var other = provider.CreateAsyncScope();
        Assert.NotSame(scope.ServiceProvider.GetRequiredService<NpgsqlConnection>(), other.ServiceProvider.GetRequiredService<NpgsqlConnection>());
    }
}
