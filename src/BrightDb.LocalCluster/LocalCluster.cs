using BrightDb.LocalCluster.Internal;

namespace BrightDb.LocalCluster;

/// <summary>
/// A local BrightDB stand-in: real PostgreSQL servers on loopback addresses, each listing the cluster's membership through
/// <c>yb_servers()</c>, with the operations a driver's tests need (stop, kill, pause, add, remove, discovery faults).
/// </summary>
/// <remarks>
/// A cluster created by <see cref="StartAsync(LocalClusterOptions, CancellationToken)"/> is destroyed when disposed. One
/// obtained by <see cref="TryAttach"/> (as the CLI does, one command per process) is only released when disposed; call
/// <see cref="DestroyAsync"/> to destroy it. Operations on one cluster object are serialised.
/// </remarks>
public sealed partial class LocalCluster : IAsyncDisposable, IDisposable
{
    readonly OperationGate _gate = new();
    readonly ClusterStore _store;
    readonly ServerControl _servers;
    readonly InProcessServers _local = new();
    AddressBlockLease? _lease;
    bool _destroysOnDispose;

    internal LocalCluster(ClusterStore store, ServerControl servers, AddressBlockLease lease, bool destroysOnDispose)
    {
        _store = store;
        _servers = servers;
        _lease = lease;
        _destroysOnDispose = destroysOnDispose;
    }

    /// <summary>The folder holding the cluster's state file, membership file and one folder per node.</summary>
    public string BaseDirectory => _store.BaseDirectory;

    /// <summary>The <c>universe_uuid</c> every <c>yb_servers()</c> row reports.</summary>
    public string UniverseUuid => _store.Settings.UniverseUuid;

    /// <summary>The password of user <c>bigmath</c> used by <see cref="ConnectionString"/>.</summary>
    public string Password => _store.Settings.Password;

    /// <summary>The address block: node i listens on <c>127.0.&lt;AddressBlock&gt;.i</c> unless <see cref="SingleAddress"/>.</summary>
    public int AddressBlock => _store.Settings.Plan.Block;

    /// <summary>Whether all nodes share one address with consecutive ports (fallback when loopback aliases cannot be bound).</summary>
    public bool SingleAddress => _store.Settings.Plan.SingleAddress;

    /// <summary>The current discovery behaviour.</summary>
    public YbServersBehavior YbServersBehavior => _store.Behavior;

    /// <summary>The nodes, removed ones included (with <see cref="NodeState.Removed"/>), by index: <c>Nodes[0].Index == 1</c>.</summary>
    public IReadOnlyList<LocalNode> Nodes => _store.Nodes;

    /// <summary>Creates and starts a cluster; on failure everything started is stopped and deleted again.</summary>
    /// <param name="options">What to create.</param>
    /// <param name="cancellationToken">Cancels the creation (what was created is cleaned up).</param>
    /// <returns>The running cluster; dispose it to destroy it.</returns>
    /// <exception cref="ArgumentException">The options are invalid.</exception>
    /// <exception cref="PostgresNotFoundException">PostgreSQL server binaries are missing.</exception>
    /// <exception cref="LocalClusterException">An address is in use, a directory is unusable or a server did not start.</exception>
    public static async Task<LocalCluster> StartAsync(LocalClusterOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        return await ClusterLauncher.StartAsync(options, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Creates and starts a cluster of primary nodes, one per placement, on a free address block.</summary>
    /// <param name="placements">One <c>cloud.region.zone</c> per node, e.g. <c>"aws.us-west.us-west-2a"</c>.</param>
    /// <returns>The running cluster; dispose it to destroy it.</returns>
    public static Task<LocalCluster> StartAsync(params string[] placements)
    {
        ArgumentNullException.ThrowIfNull(placements);
        return StartAsync(new LocalClusterOptions { Nodes = [.. placements.Select(p => new NodeSpec(Placement.Parse(p)))] });
    }

    /// <summary>Attaches to the cluster whose state is in <paramref name="baseDirectory"/>, or returns null when there is none.</summary>
    /// <param name="baseDirectory">The cluster's base directory.</param>
    /// <returns>The cluster (disposing it leaves it running), or <see langword="null"/>.</returns>
    /// <exception cref="LocalClusterException">The state file exists but cannot be read.</exception>
    public static LocalCluster? TryAttach(string baseDirectory)
    {
        ArgumentNullException.ThrowIfNull(baseDirectory);
        return ClusterLauncher.TryAttach(Path.GetFullPath(baseDirectory));
    }

    /// <summary>The node with the given 1-based index (removed nodes included).</summary>
    /// <param name="index">The node's index.</param>
    /// <returns>The node.</returns>
    /// <exception cref="ArgumentOutOfRangeException">No node has that index.</exception>
    public LocalNode Node(int index) => _store.Node(index);

    /// <summary>The ADO.NET connection string of user bigmath to a node, e.g.
    /// <c>Host=127.0.0.1;Port=2521;Database=bigmath;Username=bigmath;Password=bigmath</c>; on a TLS cluster it also asks for
    /// <c>SSL Mode=VerifyFull</c> with the cluster's <see cref="TlsRootCertificateFile"/>.</summary>
    /// <param name="nodeIndex">The node's index.</param>
    /// <returns>The connection string.</returns>
    public string ConnectionString(int nodeIndex = 1) => ClientSql.ConnectionString(Node(nodeIndex), Password, TlsRootCertificateFile);

    /// <summary>The cluster's certificate authority (PEM) when it serves TLS (<see cref="LocalClusterOptions.Tls"/>), to give
    /// clients as their root certificate; <see langword="null"/> otherwise.</summary>
    public string? TlsRootCertificateFile => _store.Settings.Tls ? ClusterCertificates.AuthorityFile(_store.BaseDirectory) : null;

    /// <summary>The client certificate of user bigmath (PEM, <c>CN=bigmath</c>, signed by the cluster's authority) when the
    /// cluster serves TLS, for <c>SSL Certificate</c> (libpq <c>sslcert</c>); <see langword="null"/> otherwise. The servers
    /// verify a client certificate when one is presented, and still ask for the password.</summary>
    public string? TlsClientCertificateFile => _store.Settings.Tls ? ClusterCertificates.ClientCertificateFile(_store.BaseDirectory) : null;

    /// <summary>The key of <see cref="TlsClientCertificateFile"/> (PEM, unencrypted), for <c>SSL Key</c> (libpq <c>sslkey</c>).</summary>
    public string? TlsClientKeyFile => _store.Settings.Tls ? ClusterCertificates.ClientKeyFile(_store.BaseDirectory) : null;

    /// <summary>A superuser connection string to a node's server, for tools and tests (not counted as a client connection of
    /// bigmath). It goes to <see cref="LocalNode.ServerHost"/>, past the node's fault proxy if there is one.</summary>
    /// <param name="nodeIndex">The node's index.</param>
    /// <returns>The connection string.</returns>
    public string AdminConnectionString(int nodeIndex)
    {
        var node = Node(nodeIndex);
        return AdminConnection.Builder(node.ServerHost, node.ServerPort).ConnectionString;
    }

    /// <summary>Stops a node cleanly (fast shutdown) after taking it out of the membership.</summary>
    /// <param name="index">The node's index.</param>
    /// <param name="ct">Cancels waiting.</param>
    /// <returns>A task completing when the server is gone.</returns>
    public Task StopNodeAsync(int index, CancellationToken ct = default) => TransitionAsync(NodeTransitions.Stop, index, ct);

    /// <summary>Starts a stopped or killed node and puts it back in the membership; a running node is left as is.</summary>
    /// <param name="index">The node's index.</param>
    /// <param name="ct">Cancels the start.</param>
    /// <returns>A task completing when the server accepts connections.</returns>
    /// <exception cref="InvalidOperationException">The node is paused (resume it instead).</exception>
    public Task StartNodeAsync(int index, CancellationToken ct = default) => TransitionAsync(NodeTransitions.Start, index, ct);

    /// <summary>Crashes a node: SIGKILL to its postmaster and every child. The membership still lists it.</summary>
    /// <param name="index">The node's index.</param>
    /// <param name="ct">Cancels waiting.</param>
    /// <returns>A task completing when the processes are gone.</returns>
    /// <exception cref="InvalidOperationException">The node is not running or paused.</exception>
    public Task KillNodeAsync(int index, CancellationToken ct = default) => TransitionAsync(NodeTransitions.Kill, index, ct);

    /// <summary>Hangs a node: SIGSTOP to its postmaster and children. Connects still succeed at the TCP level and are never
    /// answered; the membership still lists it.</summary>
    /// <param name="index">The node's index.</param>
    /// <param name="ct">Cancels waiting for the lock.</param>
    /// <returns>A task completing when the processes are stopped.</returns>
    /// <exception cref="InvalidOperationException">The node is not running.</exception>
    public Task PauseNodeAsync(int index, CancellationToken ct = default) => TransitionAsync(NodeTransitions.Pause, index, ct);

    /// <summary>Resumes a paused node (SIGCONT); a running node is left as is.</summary>
    /// <param name="index">The node's index.</param>
    /// <param name="ct">Cancels waiting for the lock.</param>
    /// <returns>A task completing when the processes run again.</returns>
    /// <exception cref="InvalidOperationException">The node is neither paused nor running.</exception>
    public Task ResumeNodeAsync(int index, CancellationToken ct = default) => TransitionAsync(NodeTransitions.Resume, index, ct);

    /// <summary>Takes a node out of the membership, stops it and deletes its data; its index is not reused.</summary>
    /// <param name="index">The node's index.</param>
    /// <param name="ct">Cancels waiting.</param>
    /// <returns>A task completing when the node is gone.</returns>
    public Task RemoveNodeAsync(int index, CancellationToken ct = default) => TransitionAsync(NodeTransitions.Remove, index, ct);

    /// <summary>Adds a node with the next index (largest index ever used + 1), starts it and adds it to the membership.</summary>
    /// <param name="spec">The new node's placement and role.</param>
    /// <param name="ct">Cancels the start (the half-created node is cleaned up).</param>
    /// <returns>The new running node.</returns>
    public async Task<LocalNode> AddNodeAsync(NodeSpec spec, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        using var _ = await _gate.EnterAsync(ct).ConfigureAwait(false);
        var node = _store.NewNode(_store.NextIndex(), spec);
        if (node.HostName is not null)
        {
            HostsFile.Set(_store.Settings.Plan.Block, HostsFile.EntriesOf([.. _store.Nodes.Append(node)]));
        }

        await NodeTransitions.Add.ApplyAsync(node, _store, _servers, ct).ConfigureAwait(false);
        await SyncServersAsync(required: false, ct).ConfigureAwait(false);
        return node;
    }

    /// <summary>Client connections per running node as the servers see them: client backends of user bigmath (any
    /// database), optionally only those with the given application name. Nodes not running are absent.</summary>
    /// <param name="applicationName">Counts only connections with this <c>application_name</c> when not null.</param>
    /// <param name="ct">Cancels the queries.</param>
    /// <returns>Node index to connection count.</returns>
    public async Task<IReadOnlyDictionary<int, int>> GetClientConnectionCountsAsync(string? applicationName = null, CancellationToken ct = default)
    {
        ThrowIfDestroyed();
        var running = Nodes.Where(n => n.State == NodeState.Running).ToList();
        var counts = await Task.WhenAll(running.Select(n => AdminSql.CountClientConnectionsAsync(n, ServerSetup.User, applicationName, ct))).ConfigureAwait(false);
        return running.Zip(counts).ToDictionary(p => p.First.Index, p => p.Second);
    }

    /// <summary>Client connections of one node as its server sees them: client backends of user bigmath (any database),
    /// optionally only those with the given application name.</summary>
    /// <param name="nodeIndex">The node to ask; its server must answer.</param>
    /// <param name="applicationName">Counts only connections with this <c>application_name</c> when not null.</param>
    /// <param name="ct">Cancels the query.</param>
    /// <returns>The number of connections.</returns>
    public Task<int> GetClientConnectionCountAsync(int nodeIndex, string? applicationName = null, CancellationToken ct = default) =>
        AdminSql.CountClientConnectionsAsync(Node(nodeIndex), ServerSetup.User, applicationName, ct);

    /// <summary>What <c>select * from yb_servers()</c> returns on a node, queried as user bigmath.</summary>
    /// <param name="nodeIndex">The node to ask.</param>
    /// <param name="ct">Cancels the query.</param>
    /// <returns>The rows, in the order the function returned them.</returns>
    public Task<IReadOnlyList<YbServersRow>> QueryYbServersAsync(int nodeIndex = 1, CancellationToken ct = default) =>
        ClientSql.QueryYbServersAsync(ConnectionString(nodeIndex), ct);

    /// <summary>Sets how <c>yb_servers()</c> behaves, at once on every node and in every database.</summary>
    /// <param name="behavior">The behaviour.</param>
    /// <param name="ct">Cancels waiting for the lock.</param>
    /// <returns>A task completing when the change is visible.</returns>
    public async Task SetYbServersBehaviorAsync(YbServersBehavior behavior, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(behavior);
        using var _ = await _gate.EnterAsync(ct).ConfigureAwait(false);
        _store.SetBehavior(behavior);
    }

    /// <summary>Makes <c>yb_servers()</c> return exactly these rows (NULLs, empty strings, bad ports, many rows…) instead of
    /// the membership; <see langword="null"/> restores the real membership.</summary>
    /// <param name="rows">The rows to return, or null.</param>
    /// <param name="ct">Cancels waiting for the lock.</param>
    /// <returns>A task completing when the change is visible.</returns>
    public async Task SetYbServersOverrideAsync(IReadOnlyList<YbServersRow>? rows, CancellationToken ct = default)
    {
        using var _ = await _gate.EnterAsync(ct).ConfigureAwait(false);
        _store.SetOverride(rows);
    }

    /// <summary>Changes bigmath's password on one node only, so connecting there fails with the cluster's password.</summary>
    /// <param name="nodeIndex">The node.</param>
    /// <param name="password">The new password.</param>
    /// <param name="ct">Cancels the change.</param>
    /// <returns>A task completing when the password is changed.</returns>
    public async Task SetUserPasswordAsync(int nodeIndex, string password, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(password);
        using var _ = await _gate.EnterAsync(ct).ConfigureAwait(false);
        var node = _store.ExistingNode(nodeIndex);
        if (node.State != NodeState.Running)
        {
            throw new InvalidOperationException($"Node {nodeIndex} is {node.State.ToString().ToLowerInvariant()}: start it before changing a password.");
        }

        await AdminSql.SetPasswordAsync(node, password, ct).ConfigureAwait(false);
    }

    /// <summary>The rpcz JSON document of a node (what <c>http://host:8100/rpcz</c> serves).</summary>
    /// <param name="nodeIndex">The node.</param>
    /// <param name="ct">Cancels the query.</param>
    /// <returns>The JSON text.</returns>
    public async Task<string> GetRpczJsonAsync(int nodeIndex, CancellationToken ct = default) =>
        RpczServer.Render(await AdminSql.ClientBackendsAsync(Node(nodeIndex), ct).ConfigureAwait(false));

    /// <summary>Lets the servers outlive this object: disposing it will no longer destroy the cluster (see
    /// <see cref="TryAttach"/>).</summary>
    public void Detach() => _destroysOnDispose = false;

    /// <summary>Destroys the cluster: stops its fault proxies and rpcz server, stops every server (paused ones are resumed
    /// first), deletes the data and releases the address block. Safe to call twice.</summary>
    /// <returns>A task completing when nothing of the cluster is left.</returns>
    public async ValueTask DestroyAsync() => await _gate.CloseAsync(async () =>
    {
        await _local.DisposeAsync().ConfigureAwait(false);
        await DetachedRpcz.StopAsync(BaseDirectory).ConfigureAwait(false);
        await _servers.StopAllAsync(Nodes).ConfigureAwait(false);
        if (_store.Settings.HostNames)
        {
            HostsFile.Remove(_store.Settings.Plan.Block);
        }

        _store.DeleteFiles();
        ReleaseLease();
    }).ConfigureAwait(false);

    /// <summary>Destroys the cluster if this object created it; an attached cluster is only released (rpcz and fault proxies
    /// served by this process stop).</summary>
    /// <returns>A task completing when done.</returns>
    public async ValueTask DisposeAsync()
    {
        if (_destroysOnDispose)
        {
            await DestroyAsync().ConfigureAwait(false);
            return;
        }

        await _local.DisposeAsync().ConfigureAwait(false);
        ReleaseLease();
    }

    /// <summary>Synchronous <see cref="DisposeAsync"/>.</summary>
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    /// <summary>Serves every node's rpcz page from this process.</summary>
    internal void ServeRpcz() => _local.ServeRpcz(Nodes);

    /// <summary>Runs one node operation of <see cref="NodeTransitions"/> on a node that was not removed.</summary>
    async Task TransitionAsync(NodeTransition transition, int index, CancellationToken ct)
    {
        using var _ = await _gate.EnterAsync(ct).ConfigureAwait(false);
        await transition.ApplyAsync(_store.ExistingNode(index), _store, _servers, ct).ConfigureAwait(false);
        await SyncServersAsync(required: false, ct).ConfigureAwait(false);
    }

    void ReleaseLease()
    {
        _lease?.Dispose();
        _lease = null;
    }

    void ThrowIfDestroyed() => ObjectDisposedException.ThrowIf(_gate.Closed, this);
}
