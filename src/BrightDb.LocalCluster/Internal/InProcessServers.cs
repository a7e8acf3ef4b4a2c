namespace BrightDb.LocalCluster.Internal;

/// <summary>The servers a cluster object runs in its own process, when asked to: rpcz pages and fault proxies. Both follow the
/// nodes through <see cref="Sync"/>.</summary>
sealed class InProcessServers : IAsyncDisposable
{
    RpczServer? _rpcz;
    FaultProxyServer? _proxies;

    /// <summary>Whether the fault proxies run in this process.</summary>
    public bool ServesFaultProxies => _proxies is not null;

    public void ServeRpcz(IReadOnlyList<LocalNode> nodes)
    {
        _rpcz ??= new RpczServer();
        _rpcz.Sync(nodes);
    }

    public void ServeFaultProxies(IReadOnlyList<LocalNode> nodes)
    {
        _proxies ??= new FaultProxyServer();
        _proxies.Sync(nodes);
    }

    public void Sync(IReadOnlyList<LocalNode> nodes)
    {
        _rpcz?.Sync(nodes);
        _proxies?.Sync(nodes);
    }

    /// <summary>Stops both (proxies first, closing every connection through them).</summary>
    /// <returns>A task completing when nothing of them is left.</returns>
    public async ValueTask DisposeAsync()
    {
        if (_proxies is not null)
        {
            await _proxies.DisposeAsync().ConfigureAwait(false);
            _proxies = null;
        }

        if (_rpcz is not null)
        {
            await _rpcz.DisposeAsync().ConfigureAwait(false);
            _rpcz = null;
        }
    }
}
