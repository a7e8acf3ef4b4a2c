using BrightDb.Npgsql.Balancing;
using BrightDb.Npgsql.ConnectionStrings;

namespace BrightDb.Npgsql.Topology;

/// <summary>A topology snapshot with what the balancer derives from it; immutable, replaced as a whole.</summary>
sealed class ClusterState(ClusterTopology topology, SelectionPlan plan, ServerEndpoint[] servers)
{
    /// <summary>The same snapshot seen by a view that chooses by another node type (<see cref="ForMode"/>), by mode; made on first use.</summary>
    ClusterState?[]? _views;

    internal ClusterTopology Topology { get; } = topology;
    internal SelectionPlan Plan { get; } = plan;

    /// <summary>The endpoints of the snapshot's servers, in its order.</summary>
    internal ServerEndpoint[] Servers { get; } = servers;

    /// <summary>
    /// This snapshot as a view of the data source that chooses by <paramref name="mode"/> sees it: the same servers, counts and
    /// pools, with a selection plan for that node type (topology keys apply as ever). The data source's own mode is this
    /// snapshot itself; another is made once per snapshot.
    /// </summary>
    internal ClusterState ForMode(LoadBalanceMode mode, BrightDbSettings settings)
    {
        if (mode == settings.LoadBalance)
            return this;
        var views = Volatile.Read(ref _views) ?? Interlocked.CompareExchange(ref _views, new ClusterState?[Enum.GetValues<LoadBalanceMode>().Length], null) ?? _views!;
        var index = (int)mode;
        if (Volatile.Read(ref views[index]) is { } made)
            return made;
        var view = new ClusterState(Topology, SelectionPlan.Build(Servers, mode, settings.TopologyKeys, settings.FallbackToTopologyKeysOnly,
            settings.Pooling ? settings.MaxPoolSize : int.MaxValue), Servers);
        return Interlocked.CompareExchange(ref views[index], view, null) ?? view;
    }
}
