using BrightDb.Npgsql.Balancing;
using BrightDb.Npgsql.ConnectionStrings;
using BrightDb.Npgsql.Topology;

namespace BrightDb.Npgsql.Pooling;

/// <summary>
/// Decides which servers follow a server in its Npgsql data source's host list, where Npgsql's failover within one open
/// goes when the server refuses: the next ones of its own group (topology level and node type) in the snapshot's order,
/// going round, then the groups after it. A server outside the snapshot (a listed host before discovery) is followed by
/// the other listed hosts.
/// </summary>
static class FallbackOrder
{
    /// <summary>Servers after a server's own in its host list.</summary>
    internal const int MaxFallbacks = 2;

    internal static IReadOnlyList<HostAndPort> For(ServerEndpoint server, ClusterState? state, IReadOnlyList<HostAndPort> listedHosts)
    {
        var fallbacks = new List<HostAndPort>(MaxFallbacks);
        if (state is not null && Array.FindIndex(state.Plan.Groups, g => Array.IndexOf(g, server) >= 0) is var first and >= 0)
        {
            for (var g = first; g < state.Plan.Groups.Length && fallbacks.Count < MaxFallbacks; g++)
            {
                var group = state.Plan.Groups[g];
                var start = g == first ? Array.IndexOf(group, server) + 1 : 0;
                for (var i = 0; i < group.Length && fallbacks.Count < MaxFallbacks; i++)
                {
                    var candidate = group[(start + i) % group.Length];
                    if (candidate != server)
                        fallbacks.Add(candidate.Address);
                }
            }

            return fallbacks;
        }

        foreach (var listed in listedHosts)
        {
            if (listed != server.Address && fallbacks.Count < MaxFallbacks && !fallbacks.Contains(listed))
                fallbacks.Add(listed);
        }

        return fallbacks;
    }
}
