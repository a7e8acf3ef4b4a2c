using BrightDb.Npgsql.Balancing;
using BrightDb.Npgsql.ConnectionStrings;

namespace BrightDb.Npgsql.Topology;

/// <summary>
/// Builds the <see cref="ClusterState"/> of a new topology, the one place a snapshot is made: each server's endpoint
/// (created on first sight, told its new description), which servers left and which came back, each server's key in
/// the host map, and the selection plan.
/// </summary>
static class ClusterStateBuilder
{
    /// <summary>A new state and the servers whose membership changed with it.</summary>
    /// <param name="State">The snapshot to install.</param>
    /// <param name="Left">Servers of the previous snapshot that are not in this one (now marked removed).</param>
    /// <param name="Rejoined">Servers that had left and are back.</param>
    internal readonly record struct Built(ClusterState State, ServerEndpoint[] Left, ServerEndpoint[] Rejoined);

    /// <remarks>Called by one refresh at a time.</remarks>
    /// <param name="topology">The servers read.</param>
    /// <param name="previous">The snapshot it replaces.</param>
    /// <param name="registry">The data source's endpoints.</param>
    /// <param name="settings">The data source's settings.</param>
    /// <param name="readOwn">Reads the data source's own connections per server, to weigh what the servers reported; <see langword="null"/> reads none (unit tests).</param>
    internal static Built Build(
        ClusterTopology topology, ClusterState? previous, EndpointRegistry registry, BrightDbSettings settings, Func<Func<ServerEndpoint, int>>? readOwn = null)
    {
        var servers = new ServerEndpoint[topology.Servers.Count];
        var rejoined = new List<ServerEndpoint>();
        for (var i = 0; i < servers.Length; i++)
        {
            var info = topology.Servers[i];
            var endpoint = registry.GetOrAdd(new HostAndPort(info.ConnectHost, info.Port));
            endpoint.Info = info;
            if (endpoint.Removed)
            {
                endpoint.Removed = false;
                rejoined.Add(endpoint);
            }

            servers[i] = endpoint;
        }

        var left = previous is null ? [] : previous.Servers.Except(servers).ToArray();
        foreach (var endpoint in left)
            endpoint.Removed = true;

        // A host shared by two servers (several ports on one address) is shown with its port, otherwise the host alone.
        var sharedHosts = servers.GroupBy(s => s.Address.Host, StringComparer.OrdinalIgnoreCase).Where(g => g.Count() > 1).Select(g => g.Key)
            .ToHashSet(StringComparer.OrdinalIgnoreCase);
        foreach (var endpoint in servers)
            endpoint.HostMapKey = sharedHosts.Contains(endpoint.Address.Host) ? endpoint.Address.ToString() : endpoint.Address.Host;

        ClusterWideLoad.Weigh(servers, topology.ReportedConnections, readOwn ?? (static () => static _ => 0));
        var plan = SelectionPlan.Build(servers, settings);
        return new Built(new ClusterState(topology, plan, servers), left, [.. rejoined]);
    }
}
