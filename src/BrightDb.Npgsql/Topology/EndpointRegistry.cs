using BrightDb.Npgsql.Balancing;
using BrightDb.Npgsql.ConnectionStrings;

namespace BrightDb.Npgsql.Topology;

/// <summary>
/// Every server endpoint one data source has created, by address: a server keeps its endpoint (its counts, its pools,
/// its down mark) across snapshots, through leaving the cluster and coming back.
/// </summary>
/// <remarks>Its lock is taken by refreshes, by the host map and by connections that reached another server; never by an open that reached its own.</remarks>
sealed class EndpointRegistry(Func<HostAndPort, ServerEndpoint> create)
{
    readonly Lock _lock = new();
    readonly Dictionary<HostAndPort, ServerEndpoint> _endpoints = [];

    /// <summary>The endpoint of <paramref name="address"/>, created on first sight.</summary>
    internal ServerEndpoint GetOrAdd(HostAndPort address)
    {
        lock (_lock)
        {
            if (!_endpoints.TryGetValue(address, out var endpoint))
                _endpoints[address] = endpoint = create(address);
            return endpoint;
        }
    }

    /// <summary>The endpoint of the server at <paramref name="host"/>:<paramref name="port"/>, if this data source knows it.</summary>
    internal ServerEndpoint? Find(string? host, int port)
    {
        if (host is null)
            return null;
        lock (_lock)
        {
            return _endpoints.GetValueOrDefault(new HostAndPort(host, port));
        }
    }

    /// <summary>Every endpoint ever created (active, removed, listed-only).</summary>
    internal ServerEndpoint[] All()
    {
        lock (_lock)
        {
            return [.. _endpoints.Values];
        }
    }
}
