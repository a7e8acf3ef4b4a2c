using BrightDb.Npgsql.Balancing;
using BrightDb.Npgsql.Topology;

namespace BrightDb.Npgsql.DataSource;

/// <summary>How the balancer's parts raise the public events of their <see cref="BrightDbDataSource"/>.</summary>
sealed record BrightDbDataSourceEvents(
    Action<ServerEndpoint, string> MarkedDown,
    Action<ServerEndpoint> MarkedUp,
    Action<ClusterTopology?, ClusterTopology> TopologyChanged);
