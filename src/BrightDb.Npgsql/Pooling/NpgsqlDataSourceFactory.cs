using BrightDb.Npgsql.Balancing;
using BrightDb.Npgsql.ConnectionStrings;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace BrightDb.Npgsql.Pooling;

/// <summary>
/// Makes every Npgsql data source a <see cref="BrightDbDataSource"/> uses, and names them: one plain data source when
/// balancing is off; otherwise, per server, the pools of the application's connections (an
/// <see cref="NpgsqlMultiHostDataSource"/> listing the server, then its fallbacks, and the direct pool of the opens through
/// the driver) and the unpooled data source of the driver's own queries. Each gets the application's logger factory and Npgsql configuration.
/// Decision owned (docs/architecture.md): pool (where each server's pool fails over to is <see cref="FallbackOrder"/>'s).
/// </summary>
sealed class NpgsqlDataSourceFactory(
    BrightDbSettings settings, string dataSourceName, ILoggerFactory loggerFactory, Action<NpgsqlDataSourceBuilder>? configureNpgsql)
{
    /// <summary>The name of a server's pools (it tags Npgsql's pool metrics, which the host map reads).</summary>
    internal string PoolName(ServerEndpoint server) => PoolName(server, server.PoolGeneration);

    /// <summary>The name of a server's pools of <paramref name="generation"/> (<see cref="ServerEndpoint.RenewPools"/>): <c>name/host:port</c>, then <c>name/host:port#1</c>, …</summary>
    internal string PoolName(ServerEndpoint server, int generation) =>
        generation == 0 ? $"{dataSourceName}/{server.Address}" : $"{dataSourceName}/{server.Address}#{generation}";

    /// <summary>The plain data source over the listed hosts, when balancing is off.</summary>
    internal NpgsqlDataSource Plain() => Builder(settings.NpgsqlConnectionString(includePassword: true), dataSourceName).Build();

    /// <summary>A server's pools: the server first, then <paramref name="fallbacks"/>, for Npgsql's failover within one open.</summary>
    internal NpgsqlMultiHostDataSource ServerPools(ServerEndpoint server, IReadOnlyList<HostAndPort> fallbacks) =>
        Builder(settings.ForServer(server.Address, fallbacks), PoolName(server)).BuildMultiHost();

    /// <summary>
    /// A server's direct pool: that server only, for the opens through the driver, which fail over by themselves. Named as
    /// the server's pools (<see cref="PoolName(ServerEndpoint)"/>), so that the connections of both count for the server.
    /// </summary>
    internal NpgsqlDataSource Direct(ServerEndpoint server) =>
        Builder(settings.ForServer(server.Address, []), PoolName(server)).Build();

    /// <summary>
    /// The driver's own connections to one server (<c>yb_servers()</c>): unpooled, that server only, without loading the
    /// database's types (the driver reads text and numbers; loading them is a catalog query on each server the first time a
    /// data source asks it, and refreshes ask servers in turn).
    /// </summary>
    internal NpgsqlDataSource Control(ServerEndpoint server)
    {
        var builder = Builder(settings.ForControl(server.Address), $"{dataSourceName}/control/{server.Address}");
        builder.ConfigureTypeLoading(typeLoading => typeLoading.EnableTypeLoading(false));
        return builder.Build();
    }

    NpgsqlDataSourceBuilder Builder(string connectionString, string name)
    {
        var builder = new NpgsqlDataSourceBuilder(connectionString) { Name = name };
        builder.UseLoggerFactory(loggerFactory);
        configureNpgsql?.Invoke(builder);
        return builder;
    }
}
