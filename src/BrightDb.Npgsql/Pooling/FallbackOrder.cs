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
    /// <param name="server">The server whose list it is.</param>
    /// <param name="state">The current snapshot, or <see langword="null"/> before the first discovery.</param>
    /// <param name="listedHosts">The hosts of the connection string.</param>
    /// <param name="maxFallbacks">At most this many servers after <paramref name="server"/> (<see cref="BrightDbSettings.MaxFallbacks"/>).</param>
    internal static IReadOnlyList<HostAndPort> For(ServerEndpoint server, ClusterState? state, IReadOnlyList<HostAndPort> listedHosts, int maxFallbacks)
    {
        var fallbacks = new List<HostAndPort>(maxFallbacks);
        if (state is not null && Array.FindIndex(state.Plan.Groups, g => Array.IndexOf(g, server) >= 0) is var first and >= 0)
        {
            for (var g = first; g < state.Plan.Groups.Length && fallbacks.Count < maxFallbacks; g++)
            {
                var group = state.Plan.Groups[g];
                var start = g == first ? Array.IndexOf(group, server) + 1 : 0;
                for (var i = 0; i < group.Length && fallbacks.Count < maxFallbacks; i++)
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
            if (listed != server.Address && fallbacks.Count < maxFallbacks && !fallbacks.Contains(listed))
                fallbacks.Add(listed);
        }

        return fallbacks;
    }
}
