using System.Globalization;
using BrightDb.LocalCluster.Internal;
using Npgsql;

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
public sealed class LocalCluster : IAsyncDisposable, IDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Lock _nodesLock = new();
    private readonly List<LocalNode> _nodes = [];
    private readonly AddressPlan _plan;
    private readonly bool _ownsBaseDirectory;
    private readonly bool _withYbServers;
    private readonly string _binDirectory;
    private readonly TimeSpan _startTimeout;
    private AddressBlockLease? _lease;
    private RpczServer? _rpcz;
    private PostgresInstallation? _pg;
    private bool _destroysOnDispose;
    private bool _destroyed;
    private YbServersBehavior _behavior = YbServersBehavior.Normal;
    private List<YbServersRow>? _override;
    private Func<int, string?>? _extraNodeConfiguration;

    private LocalCluster(string baseDirectory, AddressPlan plan, string universeUuid, string password, bool ownsBaseDirectory,
        bool withYbServers, string binDirectory, TimeSpan startTimeout, AddressBlockLease lease, bool destroysOnDispose)
    {
        BaseDirectory = baseDirectory;
        _plan = plan;
        UniverseUuid = universeUuid;
        Password = password;
        _ownsBaseDirectory = ownsBaseDirectory;
        _withYbServers = withYbServers;
        _binDirectory = binDirectory;
        _startTimeout = startTimeout;
        _lease = lease;
        _destroysOnDispose = destroysOnDispose;
    }

    /// <summary>The folder holding the cluster's state file, membership file and one folder per node.</summary>
    public string BaseDirectory { get; }

    /// <summary>The <c>universe_uuid</c> every <c>yb_servers()</c> row reports.</summary>
    public string UniverseUuid { get; }

    /// <summary>The password of user <c>bigmath</c> used by <see cref="ConnectionString"/>.</summary>
    public string Password { get; }

    /// <summary>The address block: node i listens on <c>127.0.&lt;AddressBlock&gt;.i</c> unless <see cref="SingleAddress"/>.</summary>
    public int AddressBlock => _plan.Block;

    /// <summary>Whether all nodes share one address with consecutive ports (fallback when loopback aliases cannot be bound).</summary>
    public bool SingleAddress => _plan.SingleAddress;

    /// <summary>The current discovery behaviour.</summary>
    public YbServersBehavior YbServersBehavior => _behavior;

    /// <summary>The nodes, removed ones included (with <see cref="NodeState.Removed"/>), by index: <c>Nodes[0].Index == 1</c>.</summary>
    public IReadOnlyList<LocalNode> Nodes
    {
        get
        {
            lock (_nodesLock)
            {
                return [.. _nodes];
            }
        }
    }

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
        Validate(options);
        var pg = await PostgresInstallation.FindAsync(options.PostgresBinDirectory, cancellationToken);
        var singleAddress = options.SingleAddress || !AddressPlan.LoopbackAliasesWork;
        var lease = options.AddressBlock is { } block
            ? AddressBlockLease.Fixed(block)
            : await AddressBlockLease.AcquireAsync(options.Port, options.RpczPort, singleAddress, cancellationToken);
        LocalCluster? cluster = null;
        string? createdBaseDirectory = null;
        try
        {
            var plan = new AddressPlan(lease.Block, singleAddress, options.Port, options.RpczPort);
            for (var i = 1; i <= options.Nodes.Count; i++)
            {
                EnsureFree(plan.Host(i), plan.SqlPort(i));
                if (options.StartRpcz)
                {
                    EnsureFree(plan.Host(i), plan.HttpPort(i));
                }
            }

            var (baseDirectory, owns) = PrepareBaseDirectory(options.BaseDirectory, pg.Account);
            createdBaseDirectory = owns ? baseDirectory : null;
            lease.Record(baseDirectory);
            var template = await TemplateDataDirectory.EnsureAsync(pg, options.WithYbServers, cancellationToken);
            cluster = new LocalCluster(baseDirectory, plan, Guid.NewGuid().ToString("N"), options.Password, owns, options.WithYbServers,
                pg.BinDirectory, options.StartTimeout, lease, destroysOnDispose: true)
            {
                _pg = pg,
                _extraNodeConfiguration = options.ExtraNodeConfiguration,
            };
            for (var i = 0; i < options.Nodes.Count; i++)
            {
                cluster._nodes.Add(cluster.NewNode(i + 1, options.Nodes[i]));
            }

            cluster.Persist();
            var starts = cluster._nodes.Select(n => cluster.CreateAndStartAsync(pg, template, n, cancellationToken)).ToList();
            await WhenAllOrAggregate(starts, "The cluster did not start");
            foreach (var node in cluster._nodes)
            {
                node.State = NodeState.Running;
                node.IsMember = true;
            }

            cluster.Persist();
            if (options.Password != ServerSetup.DefaultPassword)
            {
                await Task.WhenAll(cluster._nodes.Select(n => AdminSql.SetPasswordAsync(n, options.Password, cancellationToken)));
            }

            if (options.StartRpcz)
            {
                cluster._rpcz = new RpczServer();
                cluster._rpcz.Sync(cluster._nodes);
            }

            return cluster;
        }
        catch
        {
            if (cluster is not null)
            {
                await cluster.DestroyAsync();
            }
            else
            {
                if (createdBaseDirectory is not null)
                {
                    TryDeleteDirectory(createdBaseDirectory);
                }

                lease.Dispose();
            }

            throw;
        }
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
        var full = Path.GetFullPath(baseDirectory);
        var state = ClusterFiles.TryReadState(full);
        if (state is null)
        {
            return null;
        }

        var plan = new AddressPlan(state.AddressBlock, state.SingleAddress, state.Port, state.RpczPort);
        var cluster = new LocalCluster(full, plan, state.UniverseUuid, state.Password, state.OwnsBaseDirectory, state.WithYbServers,
            state.BinDirectory, TimeSpan.FromSeconds(60), AddressBlockLease.Fixed(state.AddressBlock), destroysOnDispose: false)
        {
            _behavior = BehaviorFromWire(state.Behavior, state.BehaviorDelayMs),
            _override = state.Override,
        };
        foreach (var r in state.Nodes.OrderBy(n => n.Index))
        {
            cluster._nodes.Add(new LocalNode(r.Index, r.Host, r.Port, r.RpczPort, new Placement(r.Cloud, r.Region, r.Zone), r.Type, r.Uuid,
                cluster.NodeDirectory(r.Index))
            {
                State = r.State,
                IsMember = r.IsMember,
            });
        }

        return cluster;
    }

    /// <summary>The node with the given 1-based index (removed nodes included).</summary>
    /// <param name="index">The node's index.</param>
    /// <returns>The node.</returns>
    /// <exception cref="ArgumentOutOfRangeException">No node has that index.</exception>
    public LocalNode Node(int index)
    {
        lock (_nodesLock)
        {
            return _nodes.Find(n => n.Index == index)
                ?? throw new ArgumentOutOfRangeException(nameof(index), index,
                    $"No node {index} in this cluster (nodes: {string.Join(", ", _nodes.Select(n => n.Index))}).");
        }
    }

    /// <summary>The ADO.NET connection string of user bigmath to a node, e.g.
    /// <c>Host=127.0.0.1;Port=2521;Database=bigmath;Username=bigmath;Password=bigmath</c>.</summary>
    /// <param name="nodeIndex">The node's index.</param>
    /// <returns>The connection string.</returns>
    public string ConnectionString(int nodeIndex = 1)
    {
        var node = Node(nodeIndex);
        return new NpgsqlConnectionStringBuilder
        {
            Host = node.Host,
            Port = node.Port,
            Database = ServerSetup.Database,
            Username = ServerSetup.User,
            Password = Password,
        }.ConnectionString;
    }

    /// <summary>A superuser connection string to a node, for tools and tests (not counted as a client connection of bigmath).</summary>
    /// <param name="nodeIndex">The node's index.</param>
    /// <returns>The connection string.</returns>
    public string AdminConnectionString(int nodeIndex)
    {
        var node = Node(nodeIndex);
        return AdminConnection.Builder(node.Host, node.Port).ConnectionString;
    }

    /// <summary>Stops a node cleanly (fast shutdown) after taking it out of the membership.</summary>
    /// <param name="index">The node's index.</param>
    /// <param name="ct">Cancels waiting.</param>
    /// <returns>A task completing when the server is gone.</returns>
    public async Task StopNodeAsync(int index, CancellationToken ct = default)
    {
        using var _ = await EnterAsync(ct);
        var node = Existing(index);
        if (node.State == NodeState.Stopped)
        {
            return;
        }

        node.IsMember = false;
        Persist();
        await NodeServer.StopAsync(node, Native.SIGINT, ct);
        AdminSql.Forget(node);
        node.State = NodeState.Stopped;
        Persist();
    }

    /// <summary>Starts a stopped or killed node and puts it back in the membership; a running node is left as is.</summary>
    /// <param name="index">The node's index.</param>
    /// <param name="ct">Cancels the start.</param>
    /// <returns>A task completing when the server accepts connections.</returns>
    /// <exception cref="InvalidOperationException">The node is paused (resume it instead).</exception>
    public async Task StartNodeAsync(int index, CancellationToken ct = default)
    {
        using var _ = await EnterAsync(ct);
        var node = Existing(index);
        switch (node.State)
        {
            case NodeState.Running:
                return;
            case NodeState.Paused:
                throw new InvalidOperationException($"Node {index} is paused: resume it instead of starting it.");
        }

        await NodeServer.StartAsync(await InstallationAsync(ct), node, _startTimeout, ct);
        node.State = NodeState.Running;
        node.IsMember = true;
        Persist();
    }

    /// <summary>Crashes a node: SIGKILL to its postmaster and every child. The membership still lists it.</summary>
    /// <param name="index">The node's index.</param>
    /// <param name="ct">Cancels waiting.</param>
    /// <returns>A task completing when the processes are gone.</returns>
    /// <exception cref="InvalidOperationException">The node is not running or paused.</exception>
    public async Task KillNodeAsync(int index, CancellationToken ct = default)
    {
        using var _ = await EnterAsync(ct);
        var node = Existing(index);
        if (node.State is not (NodeState.Running or NodeState.Paused))
        {
            throw new InvalidOperationException($"Node {index} is {node.State.ToString().ToLowerInvariant()}: there is no server to kill.");
        }

        await NodeServer.KillAsync(node, ct);
        AdminSql.Forget(node);
        node.State = NodeState.Killed;
        Persist();
    }

    /// <summary>Hangs a node: SIGSTOP to its postmaster and children. Connects still succeed at the TCP level and are never
    /// answered; the membership still lists it.</summary>
    /// <param name="index">The node's index.</param>
    /// <param name="ct">Cancels waiting for the lock.</param>
    /// <returns>A task completing when the processes are stopped.</returns>
    /// <exception cref="InvalidOperationException">The node is not running.</exception>
    public async Task PauseNodeAsync(int index, CancellationToken ct = default)
    {
        using var _ = await EnterAsync(ct);
        var node = Existing(index);
        if (node.State == NodeState.Paused)
        {
            return;
        }

        if (node.State != NodeState.Running)
        {
            throw new InvalidOperationException($"Node {index} is {node.State.ToString().ToLowerInvariant()}: only a running node can be paused.");
        }

        NodeServer.Pause(node);
        node.State = NodeState.Paused;
        Persist();
    }

    /// <summary>Resumes a paused node (SIGCONT); a running node is left as is.</summary>
    /// <param name="index">The node's index.</param>
    /// <param name="ct">Cancels waiting for the lock.</param>
    /// <returns>A task completing when the processes run again.</returns>
    /// <exception cref="InvalidOperationException">The node is neither paused nor running.</exception>
    public async Task ResumeNodeAsync(int index, CancellationToken ct = default)
    {
        using var _ = await EnterAsync(ct);
        var node = Existing(index);
        if (node.State == NodeState.Running)
        {
            return;
        }

        if (node.State != NodeState.Paused)
        {
            throw new InvalidOperationException($"Node {index} is {node.State.ToString().ToLowerInvariant()}, not paused.");
        }

        NodeServer.Resume(node);
        node.State = NodeState.Running;
        Persist();
    }

    /// <summary>Adds a node with the next index (largest index ever used + 1), starts it and adds it to the membership.</summary>
    /// <param name="spec">The new node's placement and role.</param>
    /// <param name="ct">Cancels the start (the half-created node is cleaned up).</param>
    /// <returns>The new running node.</returns>
    public async Task<LocalNode> AddNodeAsync(NodeSpec spec, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        using var _ = await EnterAsync(ct);
        var index = Nodes.Select(n => n.Index).DefaultIfEmpty(0).Max() + 1;
        AddressPlan.CheckIndex(index);
        var node = NewNode(index, spec);
        EnsureFree(node.Host, node.Port);
        var pg = await InstallationAsync(ct);
        var template = await TemplateDataDirectory.EnsureAsync(pg, _withYbServers, ct);
        try
        {
            await CreateAndStartAsync(pg, template, node, ct);
            if (Password != ServerSetup.DefaultPassword)
            {
                await AdminSql.SetPasswordAsync(node, Password, ct);
            }
        }
        catch
        {
            await NodeServer.KillAsync(node, CancellationToken.None);
            TryDeleteDirectory(node.Directory);
            throw;
        }

        node.State = NodeState.Running;
        node.IsMember = true;
        lock (_nodesLock)
        {
            _nodes.Add(node);
        }

        Persist();
        _rpcz?.Sync(Nodes);
        return node;
    }

    /// <summary>Takes a node out of the membership, stops it and deletes its data; its index is not reused.</summary>
    /// <param name="index">The node's index.</param>
    /// <param name="ct">Cancels waiting.</param>
    /// <returns>A task completing when the node is gone.</returns>
    public async Task RemoveNodeAsync(int index, CancellationToken ct = default)
    {
        using var _ = await EnterAsync(ct);
        var node = Existing(index);
        node.IsMember = false;
        Persist();
        await NodeServer.StopAsync(node, Native.SIGQUIT, ct);
        AdminSql.Forget(node);
        TryDeleteDirectory(node.Directory);
        node.State = NodeState.Removed;
        Persist();
        _rpcz?.Sync(Nodes);
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
        var counts = await Task.WhenAll(running.Select(n => AdminSql.CountClientConnectionsAsync(n, ServerSetup.User, applicationName, ct)));
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
    public async Task<IReadOnlyList<YbServersRow>> QueryYbServersAsync(int nodeIndex = 1, CancellationToken ct = default)
    {
        var builder = new NpgsqlConnectionStringBuilder(ConnectionString(nodeIndex)) { Pooling = false, Timeout = 15, GssEncryptionMode = GssEncryptionMode.Disable };
        await using var connection = new NpgsqlConnection(builder.ConnectionString);
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand("select * from yb_servers()", connection);
        await using var reader = await command.ExecuteReaderAsync(ct);
        var rows = new List<YbServersRow>();
        while (await reader.ReadAsync(ct))
        {
            string? Text(string column) => reader[column] as string;
            long? Number(string column) => reader[column] is long value ? value : null;
            rows.Add(new YbServersRow(Text("host"), Number("port"), Number("num_connections"), Text("node_type"), Text("cloud"), Text("region"),
                Text("zone"), Text("public_ip"), Text("uuid"), Text("universe_uuid")));
        }

        return rows;
    }

    /// <summary>Sets how <c>yb_servers()</c> behaves, at once on every node and in every database.</summary>
    /// <param name="behavior">The behaviour.</param>
    /// <param name="ct">Cancels waiting for the lock.</param>
    /// <returns>A task completing when the change is visible.</returns>
    public async Task SetYbServersBehaviorAsync(YbServersBehavior behavior, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(behavior);
        using var _ = await EnterAsync(ct);
        _behavior = behavior;
        Persist();
    }

    /// <summary>Makes <c>yb_servers()</c> return exactly these rows (NULLs, empty strings, bad ports, many rows…) instead of
    /// the membership; <see langword="null"/> restores the real membership.</summary>
    /// <param name="rows">The rows to return, or null.</param>
    /// <param name="ct">Cancels waiting for the lock.</param>
    /// <returns>A task completing when the change is visible.</returns>
    public async Task SetYbServersOverrideAsync(IReadOnlyList<YbServersRow>? rows, CancellationToken ct = default)
    {
        using var _ = await EnterAsync(ct);
        _override = rows is null ? null : [.. rows];
        Persist();
    }

    /// <summary>Changes bigmath's password on one node only, so connecting there fails with the cluster's password.</summary>
    /// <param name="nodeIndex">The node.</param>
    /// <param name="password">The new password.</param>
    /// <param name="ct">Cancels the change.</param>
    /// <returns>A task completing when the password is changed.</returns>
    public async Task SetUserPasswordAsync(int nodeIndex, string password, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(password);
        using var _ = await EnterAsync(ct);
        var node = Existing(nodeIndex);
        if (node.State != NodeState.Running)
        {
            throw new InvalidOperationException($"Node {nodeIndex} is {node.State.ToString().ToLowerInvariant()}: start it before changing a password.");
        }

        await AdminSql.SetPasswordAsync(node, password, ct);
    }

    /// <summary>The rpcz JSON document of a node (what <c>http://host:8100/rpcz</c> serves).</summary>
    /// <param name="nodeIndex">The node.</param>
    /// <param name="ct">Cancels the query.</param>
    /// <returns>The JSON text.</returns>
    public async Task<string> GetRpczJsonAsync(int nodeIndex, CancellationToken ct = default) =>
        RpczServer.Render(await AdminSql.ClientBackendsAsync(Node(nodeIndex), ct));

    /// <summary>Lets the servers outlive this object: disposing it will no longer destroy the cluster (see
    /// <see cref="TryAttach"/>).</summary>
    public void Detach() => _destroysOnDispose = false;

    /// <summary>Destroys the cluster: stops every server (paused ones are resumed first), stops its rpcz server, deletes the
    /// data and releases the address block. Safe to call twice.</summary>
    /// <returns>A task completing when nothing of the cluster is left.</returns>
    public async ValueTask DestroyAsync()
    {
        await _gate.WaitAsync();
        try
        {
            if (_destroyed)
            {
                return;
            }

            _destroyed = true;
            if (_rpcz is not null)
            {
                await _rpcz.DisposeAsync();
                _rpcz = null;
            }

            await DetachedRpcz.StopAsync(BaseDirectory);
            await Task.WhenAll(Nodes.Where(n => n.State != NodeState.Removed).Select(n => NodeServer.StopAsync(n, Native.SIGQUIT, CancellationToken.None)));
            foreach (var node in Nodes)
            {
                AdminSql.Forget(node);
            }
            if (_ownsBaseDirectory)
            {
                TryDeleteDirectory(BaseDirectory);
            }
            else
            {
                foreach (var node in Nodes)
                {
                    TryDeleteDirectory(node.Directory);
                }

                foreach (var file in new[] { ClusterFiles.StateFileName, ClusterFiles.MembershipFileName, ClusterFiles.RpczPidFileName })
                {
                    File.Delete(Path.Combine(BaseDirectory, file));
                }
            }

            _lease?.Dispose();
            _lease = null;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Destroys the cluster if this object created it; an attached cluster is only released.</summary>
    /// <returns>A task completing when done.</returns>
    public async ValueTask DisposeAsync()
    {
        if (_destroysOnDispose)
        {
            await DestroyAsync();
            return;
        }

        if (_rpcz is not null)
        {
            await _rpcz.DisposeAsync();
            _rpcz = null;
        }

        _lease?.Dispose();
        _lease = null;
    }

    /// <summary>Synchronous <see cref="DisposeAsync"/>.</summary>
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    private static void Validate(LocalClusterOptions options)
    {
        if (options.Nodes is null || options.Nodes.Count == 0)
        {
            throw new ArgumentException("A cluster needs at least one node.", nameof(options));
        }

        if (options.Nodes.Count > AddressPlan.MaxNodes)
        {
            throw new ArgumentException($"A cluster has at most {AddressPlan.MaxNodes} nodes.", nameof(options));
        }

        if (options.Nodes.Any(n => n is null))
        {
            throw new ArgumentException("A node spec is null.", nameof(options));
        }

        if (options.Port is < 1 or > 65535 || options.RpczPort is < 1 or > 65535)
        {
            throw new ArgumentException("Ports must be within 1..65535.", nameof(options));
        }

        if (options.AddressBlock is < 0 or > 255)
        {
            throw new ArgumentException("The address block must be within 0..255.", nameof(options));
        }

        if (string.IsNullOrEmpty(options.Password))
        {
            throw new ArgumentException("The password must not be empty.", nameof(options));
        }
    }

    private static void EnsureFree(string host, int port)
    {
        if (!AddressPlan.CanBind(host, port))
        {
            throw new LocalClusterException(
                $"{host}:{port.ToString(CultureInfo.InvariantCulture)} is already in use (another cluster or server listens there). Nothing was changed.");
        }
    }

    private static (string Path, bool Owns) PrepareBaseDirectory(string? requested, ServerAccount account)
    {
        string path;
        bool owns;
        if (requested is null)
        {
            var parent = ToolPaths.EnsureShared(Path.Combine(ToolPaths.Root, "clusters"));
            path = Path.Combine(parent, Guid.NewGuid().ToString("N")[..12]);
            Directory.CreateDirectory(path);
            owns = true;
        }
        else
        {
            path = Path.GetFullPath(requested);
            if (File.Exists(Path.Combine(path, ClusterFiles.StateFileName)))
            {
                throw new LocalClusterException($"A cluster already exists in {path}: destroy it first (bm-dev-ctl destroy). Nothing was changed.");
            }

            if (File.Exists(path))
            {
                throw new LocalClusterException($"The base directory {path} is a file.");
            }

            owns = !Directory.Exists(path) || !Directory.EnumerateFileSystemEntries(path).Any();
            if (!owns && Directory.EnumerateDirectories(path, "node-*").Any())
            {
                throw new LocalClusterException($"{path} holds node directories of an unknown cluster: remove them or choose another base directory.");
            }

            Directory.CreateDirectory(path);
        }

        ToolPaths.EnsureShared(path);
        if (account.RunAsRoot)
        {
            // The servers run as the postgres account: every folder above the data must be traversable by it.
            for (var dir = new DirectoryInfo(path).Parent; dir is not null; dir = dir.Parent)
            {
                if ((dir.UnixFileMode & UnixFileMode.OtherExecute) == 0)
                {
                    if (owns)
                    {
                        TryDeleteDirectory(path);
                    }

                    throw new LocalClusterException(
                        $"The base directory {path} is not reachable by the '{account.UserName}' account that runs the servers ({dir.FullName} is not traversable). Choose a base directory under /tmp.");
                }
            }
        }

        return (path, owns);
    }

    private static async Task WhenAllOrAggregate(IReadOnlyList<Task> tasks, string message)
    {
        try
        {
            await Task.WhenAll(tasks);
        }
        catch (OperationCanceledException)
        {
            throw;
        }
        catch (Exception)
        {
            var errors = tasks.Where(t => t.IsFaulted).SelectMany(t => t.Exception!.InnerExceptions).ToList();
            if (errors.Count == 1)
            {
                throw new LocalClusterException($"{message}: {errors[0].Message}", errors[0]);
            }

            throw new LocalClusterException($"{message}:\n" + string.Join("\n\n", errors.Select(e => e.Message)), new AggregateException(errors));
        }
    }

    private static void TryDeleteDirectory(string path)
    {
        try
        {
            if (Directory.Exists(path))
            {
                Directory.Delete(path, recursive: true);
            }
        }
        catch (IOException)
        {
            // Best effort during cleanup: the failure that triggered it matters more.
        }
        catch (UnauthorizedAccessException)
        {
            // Same.
        }
    }

    private static YbServersBehavior BehaviorFromWire(string name, long delayMs) => name switch
    {
        "fail" => YbServersBehavior.Fail,
        "missing" => YbServersBehavior.Missing,
        "slow" => YbServersBehavior.Slow(TimeSpan.FromMilliseconds(delayMs)),
        _ => YbServersBehavior.Normal,
    };

    private async Task CreateAndStartAsync(PostgresInstallation pg, string template, LocalNode node, CancellationToken cancellationToken)
    {
        await NodeServer.CreateAsync(pg, template, node, Path.Combine(BaseDirectory, ClusterFiles.MembershipFileName),
            _extraNodeConfiguration?.Invoke(node.Index), cancellationToken);
        await NodeServer.StartAsync(pg, node, _startTimeout, cancellationToken);
    }

    private LocalNode NewNode(int index, NodeSpec spec) =>
        new(index, _plan.Host(index), _plan.SqlPort(index), _plan.HttpPort(index), spec.Placement, spec.Type, Guid.NewGuid().ToString("N"), NodeDirectory(index))
        {
            State = NodeState.Stopped,
        };

    private string NodeDirectory(int index) => Path.Combine(BaseDirectory, $"node-{index.ToString(CultureInfo.InvariantCulture)}");

    private async Task<PostgresInstallation> InstallationAsync(CancellationToken ct) =>
        _pg ??= await PostgresInstallation.FindAsync(_binDirectory, ct);

    private LocalNode Existing(int index)
    {
        var node = Node(index);
        if (node.State == NodeState.Removed)
        {
            throw new InvalidOperationException($"Node {index} was removed from the cluster.");
        }

        return node;
    }

    /// <summary>Writes the membership file (what yb_servers() returns) and then the state file.</summary>
    private void Persist()
    {
        var nodes = Nodes;
        var rows = _override ?? [.. nodes.Where(n => n.IsMember && n.State != NodeState.Removed).Select(n => new YbServersRow(
            n.Host, n.Port, 0, n.Type == NodeType.Primary ? "primary" : "read_replica", n.Placement.Cloud, n.Placement.Region,
            n.Placement.Zone, n.Host, n.Uuid, UniverseUuid))];
        var delayMs = (long)_behavior.Delay.TotalMilliseconds;
        ClusterFiles.WriteMembership(BaseDirectory, _behavior.WireName, delayMs, rows);
        ClusterFiles.WriteState(BaseDirectory, new ClusterStateRecord
        {
            UniverseUuid = UniverseUuid,
            Port = _plan.Port,
            RpczPort = _plan.RpczPort,
            AddressBlock = _plan.Block,
            SingleAddress = _plan.SingleAddress,
            BinDirectory = _binDirectory,
            WithYbServers = _withYbServers,
            Password = Password,
            OwnsBaseDirectory = _ownsBaseDirectory,
            Behavior = _behavior.WireName,
            BehaviorDelayMs = delayMs,
            Override = _override,
            Nodes = [.. nodes.Select(n => new NodeRecord(n.Index, n.Host, n.Port, n.RpczPort, n.Placement.Cloud, n.Placement.Region,
                n.Placement.Zone, n.Type, n.State, n.IsMember, n.Uuid))],
        });
    }

    private void ThrowIfDestroyed() => ObjectDisposedException.ThrowIf(_destroyed, this);

    private async Task<Releaser> EnterAsync(CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        if (_destroyed)
        {
            _gate.Release();
            throw new ObjectDisposedException(nameof(LocalCluster), "The cluster was destroyed.");
        }

        return new Releaser(_gate);
    }

    private readonly struct Releaser(SemaphoreSlim gate) : IDisposable
    {
        public void Dispose() => gate.Release();
    }
}
