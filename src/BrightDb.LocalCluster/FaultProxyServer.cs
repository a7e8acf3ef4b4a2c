using BrightDb.LocalCluster.Internal;

namespace BrightDb.LocalCluster;

/// <summary>
/// The fault proxies of a cluster created with <see cref="LocalClusterOptions.FaultProxy"/>: one per node that is not removed,
/// listening on the node's address, forwarding to its server and injecting its <see cref="LocalNode.Fault"/>. Reconciled with
/// the cluster's nodes by <see cref="Sync"/>. The process that created the cluster runs them (unless
/// <see cref="LocalClusterOptions.ServeFaultProxy"/> is false); <c>bm-dev-ctl</c> runs them in its detached helper process.
/// </summary>
public sealed class FaultProxyServer : IAsyncDisposable
{
    readonly Dictionary<int, NodeProxy> _proxies = [];
    readonly List<NodeProxy> _retired = [];
    readonly Lock _gate = new();

    /// <summary>Opens proxies for new nodes, closes those of removed nodes (with their connections), applies every node's fault,
    /// and listens only for nodes whose server runs or is paused (a stopped or killed node refuses connections).</summary>
    /// <param name="nodes">The cluster's nodes (removed ones included); nodes not behind a proxy are ignored.</param>
    /// <exception cref="LocalClusterException">A node's address cannot be listened on.</exception>
    public void Sync(IEnumerable<LocalNode> nodes)
    {
        ArgumentNullException.ThrowIfNull(nodes);
        lock (_gate)
        {
            var wanted = nodes.Where(n => n.BehindFaultProxy && n.State != NodeState.Removed).ToDictionary(n => n.Index);
            foreach (var index in _proxies.Keys.Where(k => !wanted.ContainsKey(k)).ToList())
            {
                _proxies[index].Close();
                _retired.Add(_proxies[index]);
                _proxies.Remove(index);
            }

            foreach (var node in wanted.Values)
            {
                if (!_proxies.TryGetValue(node.Index, out var proxy))
                {
                    proxy = new NodeProxy(node);
                    _proxies[node.Index] = proxy;
                }

                proxy.Apply(node.Fault, serverUp: node.State is NodeState.Running or NodeState.Paused);
            }
        }
    }

    /// <summary>Closes every proxy and every connection through them.</summary>
    /// <returns>A task completing when nothing listens or forwards any more.</returns>
    public async ValueTask DisposeAsync()
    {
        List<NodeProxy> all;
        lock (_gate)
        {
            all = [.. _proxies.Values, .. _retired];
            _proxies.Clear();
            _retired.Clear();
        }

        foreach (var proxy in all)
        {
            proxy.Close();
        }

        foreach (var proxy in all)
        {
            await proxy.DisposeAsync().ConfigureAwait(false);
        }
    }
}
