using BrightDb.Npgsql.ConnectionStrings;

namespace BrightDb.Npgsql.Balancing;

/// <summary>
/// The order in which servers are considered, computed once per topology snapshot so that opening a connection
/// only scans small arrays: groups in preference order (node type first, then topology level, then the rest of the
/// cluster unless fallback is off); within a group the least-loaded server wins (counting what the cluster reported,
/// <see cref="ClusterWideLoad"/>).
/// </summary>
sealed class SelectionPlan
{
    SelectionPlan(ServerEndpoint[][] groups, string? emptyReason, int capacity, ServerEndpoint[]? preferred = null)
    {
        Groups = groups;
        Preferred = preferred ?? (groups.Length > 0 ? groups[0] : []);
        EmptyReason = emptyReason;
        Capacity = capacity;
        Bands = groups.Select(ClusterWideLoad.Band).ToArray();
        Weighed = groups.Select(g => g.Any(s => s.Others > 0)).ToArray();
    }

    /// <summary>
    /// For each group, whether any of its servers carries connections of others (<see cref="ServerEndpoint.Others"/>) at the
    /// snapshot: when none does, the selector compares this data source's own counts alone and does not read the others'.
    /// </summary>
    internal bool[] Weighed { get; }

    /// <summary>
    /// For each group, how far above its least-loaded server another may be and still be chosen (<see cref="ClusterWideLoad.Band"/>);
    /// 0 unless the cluster reports connection counts, and fixed with the snapshot.
    /// </summary>
    internal int[] Bands { get; }

    /// <summary>
    /// Connections one server can take from this data source (its pool's maximum; unbounded unpooled). A full server is
    /// passed over while another candidate has room: waiting for a pool slot there would only delay the open.
    /// </summary>
    internal int Capacity { get; }

    /// <summary>
    /// The servers the settings prefer most: of the node type chosen first, at the first level of the topology keys (all of
    /// that type without keys). Empty when the cluster has none, although opens then go to the next group (what a health
    /// check reports as degraded).
    /// </summary>
    internal ServerEndpoint[] Preferred { get; }

    /// <summary>Candidate groups, most preferred first. Every endpoint appears at most once.</summary>
    internal ServerEndpoint[][] Groups { get; }

    /// <summary>Why there is no candidate at all (for example, no read replica in the cluster); null when there are some.</summary>
    internal string? EmptyReason { get; }

    internal IEnumerable<ServerEndpoint> Candidates => Groups.SelectMany(g => g);

    /// <summary>The plan of a data source's settings: its mode, topology keys, fallback rule and per-server pool capacity.</summary>
    internal static SelectionPlan Build(IReadOnlyList<ServerEndpoint> servers, BrightDbSettings settings) =>
        Build(servers, settings.LoadBalance, settings.TopologyKeys, settings.FallbackToTopologyKeysOnly,
            settings.Pooling ? settings.MaxPoolSize : int.MaxValue);

    internal static SelectionPlan Build(
        IReadOnlyList<ServerEndpoint> servers, LoadBalanceMode mode, IReadOnlyList<TopologyKey> keys, bool topologyKeysOnly, int capacity = int.MaxValue)
    {
        ServerNodeType?[] typeOrder = mode switch
        {
            LoadBalanceMode.OnlyPrimary => [ServerNodeType.Primary],
            LoadBalanceMode.OnlyReadReplica => [ServerNodeType.ReadReplica],
            LoadBalanceMode.PreferPrimary => [ServerNodeType.Primary, ServerNodeType.ReadReplica],
            LoadBalanceMode.PreferReadReplica => [ServerNodeType.ReadReplica, ServerNodeType.Primary],
            _ => [null],
        };

        var groups = new List<ServerEndpoint[]>();
        ServerEndpoint[]? preferred = null;
        foreach (var type in typeOrder)
        {
            var ofType = servers.Where(s => type is null || s.Info?.NodeType == type).ToList();
            if (keys.Count == 0)
            {
                preferred ??= [.. ofType];
                Add(groups, ofType);
                continue;
            }

            var levelOf = ofType.ToDictionary(s => s, s => BestLevel(s.Info, keys));
            preferred ??= [.. ofType.Where(s => levelOf[s] == 1)];
            for (var level = 1; level <= TopologyKey.MaxLevel; level++)
                Add(groups, ofType.Where(s => levelOf[s] == level));
            if (!topologyKeysOnly)
                Add(groups, ofType.Where(s => levelOf[s] == 0));
        }

        string? emptyReason = null;
        if (groups.Count == 0)
        {
            emptyReason = mode switch
            {
                LoadBalanceMode.OnlyPrimary when !servers.Any(s => s.Info?.NodeType == ServerNodeType.Primary) =>
                    "the cluster reports no primary server (Load Balance Hosts=only-primary)",
                LoadBalanceMode.OnlyReadReplica when !servers.Any(s => s.Info?.NodeType == ServerNodeType.ReadReplica) =>
                    "the cluster reports no read replica server (Load Balance Hosts=only-rr)",
                _ when keys.Count > 0 && topologyKeysOnly =>
                    $"no server of the cluster matches Topology Keys '{string.Join(",", keys)}' and Fallback To Topology Keys Only is true",
                _ => "the cluster reports no server",
            };
        }

        return new SelectionPlan([.. groups], emptyReason, capacity, preferred);
    }

    static void Add(List<ServerEndpoint[]> groups, IEnumerable<ServerEndpoint> group)
    {
        var array = group.ToArray();
        if (array.Length > 0)
            groups.Add(array);
    }

    /// <summary>The most preferred level whose key matches the server; 0 when none does.</summary>
    static int BestLevel(ServerInfo? info, IReadOnlyList<TopologyKey> keys)
    {
        if (info is null)
            return 0;
        var best = 0;
        foreach (var key in keys)
        {
            if (key.Matches(info.Cloud, info.Region, info.Zone) && (best == 0 || key.Level < best))
                best = key.Level;
        }

        return best;
    }
}
