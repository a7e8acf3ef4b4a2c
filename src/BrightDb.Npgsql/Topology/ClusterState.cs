using BrightDb.Npgsql.Balancing;

namespace BrightDb.Npgsql.Topology;

/// <summary>A topology snapshot with what the balancer derives from it; immutable, replaced as a whole.</summary>
sealed class ClusterState(ClusterTopology topology, SelectionPlan plan, ServerEndpoint[] servers)
{
    internal ClusterTopology Topology { get; } = topology;
    internal SelectionPlan Plan { get; } = plan;

    /// <summary>The endpoints of the snapshot's servers, in its order.</summary>
    internal ServerEndpoint[] Servers { get; } = servers;
}
