using BrightDb.LocalCluster.Internal;

namespace BrightDb.LocalCluster;

/// <summary>The network faults of a cluster whose nodes are behind fault proxies (<see cref="LocalClusterOptions.FaultProxy"/>).</summary>
public sealed partial class LocalCluster
{
    /// <summary>Whether every node's address is a fault proxy's (see <see cref="LocalClusterOptions.FaultProxy"/>).</summary>
    public bool FaultProxy => _store.Settings.FaultProxy;

    /// <summary>Makes a node's proxy inject <paramref name="fault"/> from now on, replacing the node's previous fault. The fault
    /// is recorded in the state file; when the proxies run in another process (<c>bm-dev-ctl</c>'s), that process is asked to
    /// apply it and the call returns once it has.</summary>
    /// <param name="nodeIndex">The node.</param>
    /// <param name="fault">The fault; <see cref="NodeFault.None"/> clears it.</param>
    /// <param name="ct">Cancels waiting.</param>
    /// <returns>A task completing when the fault is in effect.</returns>
    /// <exception cref="InvalidOperationException">The cluster has no fault proxies, or the node was removed.</exception>
    /// <exception cref="LocalClusterException">No process serves the proxies, or it failed to apply the fault.</exception>
    public async Task SetFaultAsync(int nodeIndex, NodeFault fault, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(fault);
        if (!FaultProxy)
        {
            throw new InvalidOperationException(
                "The cluster was created without fault proxies (LocalClusterOptions.FaultProxy, bm-dev-ctl create --fault_proxy).");
        }

        using var _ = await _gate.EnterAsync(ct).ConfigureAwait(false);
        _store.SetFault(_store.ExistingNode(nodeIndex), fault);
        await SyncServersAsync(required: true, ct).ConfigureAwait(false);
    }

    /// <summary>Clears a node's fault: its proxy forwards everything as it comes again, and listens again after
    /// <see cref="NodeFault.Refuse"/>. Connections accepted under <see cref="NodeFault.Hang"/> stay silent.</summary>
    /// <param name="nodeIndex">The node.</param>
    /// <param name="ct">Cancels waiting.</param>
    /// <returns>A task completing when the node's proxy forwards normally.</returns>
    public Task ClearFaultAsync(int nodeIndex, CancellationToken ct = default) => SetFaultAsync(nodeIndex, NodeFault.None, ct);

    /// <summary>Serves every node's fault proxy from this process.</summary>
    internal void ServeFaultProxy() => _local.ServeFaultProxies(Nodes);

    /// <summary>
    /// Makes the servers that follow the nodes (rpcz pages, fault proxies) follow the recorded state: at once when they run in
    /// this process; otherwise the process serving the proxies is asked to. After a node operation that is a courtesy (the
    /// detached process also re-reads the state every second); for a fault it is <paramref name="required"/>.
    /// </summary>
    async Task SyncServersAsync(bool required, CancellationToken ct)
    {
        _local.Sync(Nodes);
        if (!FaultProxy || _local.ServesFaultProxies)
        {
            return;
        }

        try
        {
            await FaultProxyControl.RequestApplyAsync(BaseDirectory, ct).ConfigureAwait(false);
        }
        catch (LocalClusterException) when (!required)
        {
            // Nobody serves the proxies now; whoever does later applies the state file when it starts.
        }
    }
}
