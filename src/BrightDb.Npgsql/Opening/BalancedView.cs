using BrightDb.Npgsql.Balancing;
using BrightDb.Npgsql.Topology;
using Npgsql;

namespace BrightDb.Npgsql.Opening;

/// <summary>
/// A view of a balanced data source that chooses servers by another node type (<see cref="BrightDbDataSource.WithLoadBalance"/>):
/// the same topology, counts, pools and health as the data source, only the selection differs. It owns nothing: disposing
/// it does nothing.
/// </summary>
sealed class BalancedView(BalancedOpener opener, LoadBalanceMode mode) : IConnectionOpener
{
    public NpgsqlConnection CreateConnection() => opener.CreateConnection(mode);

    public NpgsqlDataSource ChooseDataSource() => opener.ChooseDataSource(mode);

    public ValueTask<NpgsqlConnection> OpenAsync(bool async, CancellationToken cancellationToken) => opener.OpenAsync(mode, async, cancellationToken);

    public ClusterTopology? Topology => opener.Topology;

    public IEnumerable<ServerEndpoint> ActiveEndpoints => opener.ActiveEndpoints;

    public IReadOnlyDictionary<string, int> HostToConnectionMap() => opener.HostToConnectionMap();

    public IReadOnlyList<BrightDbServerState> ServerStates() => opener.ServerStates(mode);

    public IEnumerable<NpgsqlDataSource> NpgsqlDataSources => opener.NpgsqlDataSources;

    public Task ReloadTypesAsync(bool async, CancellationToken cancellationToken) => opener.ReloadTypesAsync(async, cancellationToken);

    public Task<ClusterTopology> RefreshTopologyAsync(CancellationToken cancellationToken) => opener.RefreshTopologyAsync(cancellationToken);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
