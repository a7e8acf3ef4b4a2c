using Dapper;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace BrightDb.Npgsql.Ecosystem.Tests;

/// <summary>A fresh cluster, one node in each of us-west-2a, -2b and -2c, whose node 2 crashed while <c>yb_servers()</c> still lists it.</summary>
public sealed class NodeTwoKilledClusterFixture : IAsyncLifetime
{
    LocalCluster.LocalCluster? _cluster;

    public LocalCluster.LocalCluster Cluster => _cluster ?? throw new InvalidOperationException("The cluster is not started.");

    public async Task InitializeAsync()
    {
        _cluster = await LocalCluster.LocalCluster.StartAsync("aws.us-west.us-west-2a", "aws.us-west.us-west-2b", "aws.us-west.us-west-2c");
        await _cluster.KillNodeAsync(2);
    }

    public async Task DisposeAsync()
    {
        if (_cluster is not null)
            await _cluster.DisposeAsync();
    }
}

/// <summary>A context with no model: the tests only run raw SQL through it.</summary>
public sealed class EveryPathContext(DbContextOptions<EveryPathContext> options) : DbContext(options);

static class EveryPathEcosystem
{
    /// <summary>Fails unless a <c>SELECT 1</c> returned exactly one row holding 1.</summary>
    public static void AssertOne(List<int> rows)
    {
        if (rows is not [1])
            throw new InvalidOperationException($"SELECT 1 returned {string.Join(",", rows)}");
    }

    /// <summary>The driver's map per node, <c>-</c> for a node absent from it.</summary>
    public static string Map(BrightDbDataSource dataSource, LocalCluster.LocalCluster cluster)
    {
        var map = dataSource.GetHostToConnectionMap();
        return string.Join("/", cluster.Nodes.Select(n => map.TryGetValue(n.Host, out var c) ? c.ToString(System.Globalization.CultureInfo.InvariantCulture) : "-"));
    }

    /// <summary>The servers' counts per node (a server that is not running holds 0), once equal to <paramref name="expected"/> or after 10 s.</summary>
    public static async Task<string> ServersEventuallyAsync(LocalCluster.LocalCluster cluster, string app, string expected)
    {
        var actual = "";
        await Ecosystem.EventuallyAsync(async () => (actual = string.Join("/", await Ecosystem.ServerCountsAsync(cluster, app))) == expected, TimeSpan.FromSeconds(10));
        return actual;
    }

    /// <summary>The map and the servers' counts once they agree, or the last ones read after 10 s.</summary>
    public static async Task<(string Map, string Servers)> MapAndServersEventuallyAsync(BrightDbDataSource dataSource, LocalCluster.LocalCluster cluster, string app)
    {
        var map = "";
        var servers = "";
        await Ecosystem.EventuallyAsync(async () =>
        {
            map = Map(dataSource, cluster);
            servers = string.Join("/", await Ecosystem.ServerCountsAsync(cluster, app));
            return map == servers;
        }, TimeSpan.FromSeconds(10));
        return (map, servers);
    }

    public static string Describe(int request, Exception error) => $"#{request}: {error.GetType().Name}: {error.Message.Split('\n')[0]}";

    /// <summary>Every unmet requirement in one failure.</summary>
    public static void Assert(IEnumerable<string?> problems)
    {
        var unmet = problems.Where(p => p is not null).ToList();
        Xunit.Assert.True(unmet.Count == 0, string.Join("\n", unmet));
    }

    public static string? Failed(List<string> failures, int requests) =>
        failures.Count == 0 ? null : $"{failures.Count} of {requests} requests failed: {string.Join("; ", failures.Take(12))}";

    public static string? Unequal(string expected, string actual, string what) => expected == actual ? null : $"{what}: expected {expected}, actual {actual}";
}

/// <summary>
/// EF Core, Dapper and dependency injection obtain their connections with <c>CreateConnection</c> and open them
/// themselves: with node 2 crashed but still listed, every one of them still works and the load goes 6/0/6.
/// </summary>
public sealed class EveryPathEcosystemTests(NodeTwoKilledClusterFixture fixture) : IClassFixture<NodeTwoKilledClusterFixture>
{
    LocalCluster.LocalCluster Cluster => fixture.Cluster;

    [Fact]
    public async Task EF_Core_contexts_without_retry_strategy_held_open_all_succeed_and_spread_6_0_6()
    {
        var app = "every-eco-ef";
        await using var dataSource = BrightDbDataSource.Create(Ecosystem.ConnectionString(Cluster, app));
        var contexts = new List<EveryPathContext>();
        try
        {
            var failures = new List<string>();
            for (var i = 0; i < 12; i++)
            {
                // No retry strategy: what EF gets from the data source must work the first time.
                var context = new EveryPathContext(new DbContextOptionsBuilder<EveryPathContext>().UseNpgsql(dataSource).Options);
                contexts.Add(context);
                try
                {
                    // Held open: the context keeps its connection until it is disposed.
                    await context.Database.OpenConnectionAsync();
                    EveryPathEcosystem.AssertOne(await context.Database.SqlQueryRaw<int>("SELECT 1 AS \"Value\"").ToListAsync());
                }
                catch (Exception e)
                {
                    failures.Add(EveryPathEcosystem.Describe(i, e));
                }
            }

            EveryPathEcosystem.Assert(
            [
                EveryPathEcosystem.Failed(failures, 12),
                EveryPathEcosystem.Unequal("6/0/6", EveryPathEcosystem.Map(dataSource, Cluster), "driver map"),
                EveryPathEcosystem.Unequal("6/0/6", await EveryPathEcosystem.ServersEventuallyAsync(Cluster, app, "6/0/6"), "servers"),
            ]);
        }
        finally
        {
            foreach (var context in contexts)
                await context.DisposeAsync();
        }
    }

    [Fact]
    public async Task Dapper_on_closed_connections_opens_them_and_all_queries_succeed()
    {
        var app = "every-eco-dapper-closed";
        await using var dataSource = BrightDbDataSource.Create(Ecosystem.ConnectionString(Cluster, app));
        var failures = new List<string>();
        for (var i = 0; i < 12; i++)
        {
            // Dapper opens a closed connection itself and closes it after the query.
            var connection = dataSource.CreateConnection();
            await using (connection)
            {
                try
                {
                    EveryPathEcosystem.AssertOne((await connection.QueryAsync<int>("SELECT 1")).ToList());
                }
                catch (Exception e)
                {
                    failures.Add(EveryPathEcosystem.Describe(i, e));
                }
            }
        }

        // Pooled: what is left idles in the pools; the map counts it as the servers do, and nothing on node 2.
        var (map, servers) = await EveryPathEcosystem.MapAndServersEventuallyAsync(dataSource, Cluster, app);
        EveryPathEcosystem.Assert(
        [
            EveryPathEcosystem.Failed(failures, 12),
            EveryPathEcosystem.Unequal(servers, map, "driver map against the servers' counts"),
            EveryPathEcosystem.Unequal("0", map.Split('/')[1], "driver map on the killed node 2"),
        ]);
    }

    [Fact]
    public async Task Dapper_on_connections_opened_with_Open_held_all_succeed_and_spread_6_0_6()
    {
        var app = "every-eco-dapper-open";
        await using var dataSource = BrightDbDataSource.Create(Ecosystem.ConnectionString(Cluster, app));
        var held = new List<NpgsqlConnection>();
        try
        {
            var failures = new List<string>();
            for (var i = 0; i < 12; i++)
            {
                var connection = dataSource.CreateConnection();
                held.Add(connection);
                try
                {
                    connection.Open();
                    EveryPathEcosystem.AssertOne((await connection.QueryAsync<int>("SELECT 1")).ToList());
                }
                catch (Exception e)
                {
                    failures.Add(EveryPathEcosystem.Describe(i, e));
                }
            }

            EveryPathEcosystem.Assert(
            [
                EveryPathEcosystem.Failed(failures, 12),
                EveryPathEcosystem.Unequal("6/0/6", EveryPathEcosystem.Map(dataSource, Cluster), "driver map"),
                EveryPathEcosystem.Unequal("6/0/6", await EveryPathEcosystem.ServersEventuallyAsync(Cluster, app, "6/0/6"), "servers"),
            ]);
        }
        finally
        {
            foreach (var connection in held)
                await connection.DisposeAsync();
        }
    }

    [Fact]
    public async Task DI_resolved_connections_opened_and_held_all_succeed_and_spread_6_0_6()
    {
        var app = "every-eco-di";
        var services = new ServiceCollection();
        services.AddBrightDbDataSource(Ecosystem.ConnectionString(Cluster, app));
        await using var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateScopes = true, ValidateOnBuild = true });
        // The scope holds the (transient) connections and disposes them at its end.
        await using var scope = provider.CreateAsyncScope();
        var failures = new List<string>();
        for (var i = 0; i < 12; i++)
        {
            try
            {
                var connection = scope.ServiceProvider.GetRequiredService<NpgsqlConnection>();
                connection.Open();
                await using var command = new NpgsqlCommand("SELECT 1", connection);
                var value = command.ExecuteScalar();
                if (value is not 1)
                    throw new InvalidOperationException($"SELECT 1 returned {value ?? "null"}");
            }
            catch (Exception e)
            {
                failures.Add(EveryPathEcosystem.Describe(i, e));
            }
        }

        var dataSource = provider.GetRequiredService<BrightDbDataSource>();
        EveryPathEcosystem.Assert(
        [
            EveryPathEcosystem.Failed(failures, 12),
            EveryPathEcosystem.Unequal("6/0/6", EveryPathEcosystem.Map(dataSource, Cluster), "driver map"),
            EveryPathEcosystem.Unequal("6/0/6", await EveryPathEcosystem.ServersEventuallyAsync(Cluster, app, "6/0/6"), "servers"),
        ]);
    }
}

/// <summary>
/// The first connection resolved from the container, before any open, discovers the cluster on the way: once the
/// application has disposed it, nothing of the application's remains open on any server (unpooled). On the healthy
/// shared cluster, so that only the discovery is looked at.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class EveryPathDiscoveryLeakTests(SeedClusterFixture fixture)
{
    [Fact]
    public async Task First_DI_connection_before_any_open_leaves_no_connection_behind_once_disposed()
    {
        var app = "every-eco-di-first";
        var services = new ServiceCollection();
        services.AddBrightDbDataSource(fixture.ConnectionString(app, "Pooling=false"));
        await using var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateScopes = true, ValidateOnBuild = true });
        await using (var scope = provider.CreateAsyncScope())
        {
            // No open has happened yet: resolving creates the data source, and this connection is its first.
            var connection = scope.ServiceProvider.GetRequiredService<NpgsqlConnection>();
            await connection.OpenAsync();
            await using (var command = new NpgsqlCommand("SELECT 1", connection))
                Assert.Equal(1, await command.ExecuteScalarAsync());
            await connection.DisposeAsync();
        }

        var zeros = string.Join("/", fixture.Cluster.Nodes.Select(_ => "0"));
        var dataSource = provider.GetRequiredService<BrightDbDataSource>();
        EveryPathEcosystem.Assert(
        [
            EveryPathEcosystem.Unequal(zeros, await EveryPathEcosystem.ServersEventuallyAsync(fixture.Cluster, app, zeros), "servers"),
            EveryPathEcosystem.Unequal(zeros, EveryPathEcosystem.Map(dataSource, fixture.Cluster), "driver map"),
        ]);
    }
}
