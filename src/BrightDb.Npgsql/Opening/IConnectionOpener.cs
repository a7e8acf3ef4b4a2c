using BrightDb.Npgsql.Balancing;
using BrightDb.Npgsql.Topology;
using Npgsql;

namespace BrightDb.Npgsql.Opening;

/// <summary>
/// The strategy behind a <see cref="BrightDbDataSource"/>: how its connections are created and opened, and what it can
/// say about the servers. <see cref="PlainOpener"/> (balancing off) is a plain Npgsql data source;
/// <see cref="BalancedOpener"/> discovers the cluster and balances.
/// </summary>
interface IConnectionOpener : IAsyncDisposable
{
    /// <summary>A closed connection; opening it is the caller's (EF Core, Dapper, DI).</summary>
    NpgsqlConnection CreateConnection();

    /// <summary>The Npgsql data source of the server chosen now, for a command or batch that opens its own connection.</summary>
    NpgsqlDataSource ChooseDataSource();

    /// <summary>An open connection.</summary>
    ValueTask<NpgsqlConnection> OpenAsync(bool async, CancellationToken cancellationToken);

    /// <summary>The last snapshot of the cluster, or <see langword="null"/> when there is none.</summary>
    ClusterTopology? Topology { get; }

    /// <summary>The servers of the current snapshot, for metrics.</summary>
    IEnumerable<ServerEndpoint> ActiveEndpoints { get; }

    /// <summary>Each server of the current snapshot: marked down or not, its connections, whether it is preferred.</summary>
    IReadOnlyList<BrightDbServerState> ServerStates();

    /// <summary>Connections open on each server, by the server's key in the map.</summary>
    IReadOnlyDictionary<string, int> HostToConnectionMap();

    /// <summary>The Npgsql data sources made so far (each server's pools and the driver's own), for what applies to all of them.</summary>
    IEnumerable<NpgsqlDataSource> NpgsqlDataSources { get; }

    /// <summary>Makes the connections opened from now on load the database's types afresh.</summary>
    Task ReloadTypesAsync(bool async, CancellationToken cancellationToken);

    /// <summary>Reads the cluster's servers now.</summary>
    Task<ClusterTopology> RefreshTopologyAsync(CancellationToken cancellationToken);
}
