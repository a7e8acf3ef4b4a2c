using BrightDb.Npgsql.Balancing;
using BrightDb.Npgsql.Topology;

namespace BrightDb.Npgsql.Diagnostics;

/// <summary>
/// Reports the connections open on each server (<see cref="BrightDbDataSource.GetHostToConnectionMap"/>), by the server's
/// host as the cluster reports it. Pooled, every physical connection counts, idle ones included, as the server sees them;
/// unpooled, every open connection. A connection counts on the server it reached; an open still in progress does not.
/// Decision owned (docs/architecture.md): report (the host map; metrics are <see cref="DriverMetrics"/>, logs <see cref="Log"/>).
/// </summary>
static class HostConnectionMap
{
    /// <param name="topology">The endpoints and the current snapshot.</param>
    /// <param name="poolName">The name of a server's pools of a generation; <see langword="null"/> when unpooled.</param>
    internal static Dictionary<string, int> Read(TopologyManager topology, Func<ServerEndpoint, int, string>? poolName)
    {
        var map = new Dictionary<string, int>(StringComparer.Ordinal);
        var state = topology.Current;
        var connections = ByServer(poolName);
        foreach (var endpoint in topology.AllEndpoints())
        {
            var count = connections(endpoint);
            // Servers of the current snapshot are listed even at 0; a server that left is listed while connections to it remain.
            var active = state is not null && state.Servers.Contains(endpoint);
            if (active || count > 0)
                map[endpoint.HostMapKey] = map.GetValueOrDefault(endpoint.HostMapKey) + count;
        }

        return map;
    }

    /// <summary>The connections on each server as <see cref="Read"/> counts them, by endpoint.</summary>
    internal static Func<ServerEndpoint, int> ByServer(Func<ServerEndpoint, int, string>? poolName)
    {
        if (poolName is null)
            return static endpoint => Math.Max(0, endpoint.OpenConnections);
        var pools = NpgsqlPoolMetrics.ReadConnectionsByPool();
        return endpoint => Math.Max(0, PhysicalConnections(endpoint, pools, poolName));
    }

    /// <summary>
    /// The physical connections on a server, from its pools' own count: minus the strays in them (counted on the server
    /// they reached), plus those of other servers' pools that reached this one, minus the opens in progress (a connection
    /// being opened is in the pool's count already). The pools of every generation count: those replaced by
    /// <see cref="ServerEndpoint.RenewPools"/> keep their connections in use until they are returned. A server's direct pool
    /// has the name of its multi-host one: Npgsql reports both under it.
    /// </summary>
    static int PhysicalConnections(ServerEndpoint endpoint, Dictionary<string, int> pools, Func<ServerEndpoint, int, string> poolName)
    {
        var (strayOut, strayIn) = endpoint.Strays;
        if (!endpoint.HasPools)
            return strayIn;
        var physical = 0;
        for (var generation = endpoint.PoolGeneration; generation >= 0; generation--)
            physical += pools.GetValueOrDefault(poolName(endpoint, generation));
        return physical - strayOut + strayIn - endpoint.Gate.Active;
    }
}
