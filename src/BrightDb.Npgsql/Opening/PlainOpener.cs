using BrightDb.Npgsql.Balancing;
using BrightDb.Npgsql.Topology;
using Npgsql;

namespace BrightDb.Npgsql.Opening;

/// <summary>
/// Decides nothing: with <c>Load Balance Hosts=false</c> every connection comes from one plain Npgsql data source over
/// the listed hosts, as if the application used Npgsql directly.
/// </summary>
sealed class PlainOpener(NpgsqlDataSource dataSource) : IConnectionOpener
{
    public IEnumerable<NpgsqlDataSource> NpgsqlDataSources => [dataSource];

    public NpgsqlConnection CreateConnection() => dataSource.CreateConnection();

    public NpgsqlDataSource ChooseDataSource() => dataSource;

    public async ValueTask<NpgsqlConnection> OpenAsync(bool async, CancellationToken cancellationToken) =>
        async ? await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false) : dataSource.OpenConnection();

    public Task ReloadTypesAsync(bool async, CancellationToken cancellationToken)
    {
        if (async)
            return dataSource.ReloadTypesAsync(cancellationToken);
        dataSource.ReloadTypes();
        return Task.CompletedTask;
    }

    public ClusterTopology? Topology => null;

    public IEnumerable<ServerEndpoint> ActiveEndpoints => [];

    public IReadOnlyList<BrightDbServerState> ServerStates() => [];

    public IReadOnlyDictionary<string, int> HostToConnectionMap() => new Dictionary<string, int>(StringComparer.Ordinal);

    public Task<ClusterTopology> RefreshTopologyAsync(CancellationToken cancellationToken) =>
        Task.FromException<ClusterTopology>(new InvalidOperationException("Load Balance Hosts is false: this data source does not discover the cluster."));

    public ValueTask DisposeAsync() => dataSource.DisposeAsync();
}
