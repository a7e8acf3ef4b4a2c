using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace BrightDb.LocalCluster.Internal;

/// <summary>
/// A cluster's record (its settings, its nodes and how <c>yb_servers()</c> behaves) and the one writer of its files. Every
/// change goes through one place that applies it and then atomically rewrites the membership file every node's
/// <c>yb_servers()</c> reads, then the state file (<c>cluster.json</c>) that separate CLI invocations attach to.
/// </summary>
sealed class ClusterStore(string baseDirectory, ClusterSettings settings, YbServersBehavior behavior, List<YbServersRow>? overrideRows)
{
    public const string StateFileName = "cluster.json";

    public const string MembershipFileName = "yb_servers.json";

    /// <summary>Written by a detached rpcz server process; destroy terminates that process.</summary>
    public const string RpczPidFileName = "rpcz.pid";

    static readonly JsonSerializerOptions StateJson = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter() },
    };

    static readonly JsonSerializerOptions MembershipJson = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
    };

    readonly Lock _lock = new();
    readonly List<LocalNode> _nodes = [];
    List<YbServersRow>? _override = overrideRows;

    public string BaseDirectory { get; } = baseDirectory;

    public ClusterSettings Settings { get; } = settings;

    public YbServersBehavior Behavior { get; private set; } = behavior;

    /// <summary>The file every node's <c>yb_servers()</c> reads, through a link in its data directory.</summary>
    public string MembershipFile => Path.Combine(BaseDirectory, MembershipFileName);

    /// <summary>The nodes, removed ones included, in index order.</summary>
    public IReadOnlyList<LocalNode> Nodes
    {
        get
        {
            lock (_lock)
            {
                return [.. _nodes];
            }
        }
    }

    /// <summary>The record of a new cluster: no nodes yet, normal discovery.</summary>
    public static ClusterStore Create(string baseDirectory, ClusterSettings settings) =>
        new(baseDirectory, settings, YbServersBehavior.Normal, overrideRows: null);

    /// <summary>The record of the cluster whose state file is in <paramref name="baseDirectory"/>, or null when there is none.</summary>
    public static ClusterStore? TryLoad(string baseDirectory)
    {
        var path = Path.Combine(baseDirectory, StateFileName);
        if (!File.Exists(path))
        {
            return null;
        }

        ClusterStateRecord state;
        try
        {
            state = JsonSerializer.Deserialize<ClusterStateRecord>(File.ReadAllText(path), StateJson)
                ?? throw new LocalClusterException($"The cluster state file '{path}' is empty.");
        }
        catch (JsonException ex)
        {
            throw new LocalClusterException($"The cluster state file '{path}' is unreadable: {ex.Message}", ex);
        }

        var settings = new ClusterSettings(state.UniverseUuid, new AddressPlan(state.AddressBlock, state.SingleAddress, state.Port, state.RpczPort),
            state.Password, state.OwnsBaseDirectory, state.WithYbServers, state.BinDirectory, state.FaultProxy, state.Tls, state.PublicAddresses,
            state.ReportConnections, state.HostNames);
        var store = new ClusterStore(baseDirectory, settings, YbServersBehavior.FromWire(state.Behavior, state.BehaviorDelayMs), state.Override);
        foreach (var r in state.Nodes.OrderBy(n => n.Index))
        {
            store._nodes.Add(new LocalNode(r.Index, r.Host, r.Port, r.RpczPort, new Placement(r.Cloud, r.Region, r.Zone), r.Type, r.Uuid,
                store.NodeDirectory(r.Index), r.ServerHost, r.ServerHost is null ? null : r.ServerPort, r.PublicHost)
            {
                HostName = settings.HostNames ? HostsFile.NameOf(settings.Plan.Block, r.Index) : null,
                State = r.State,
                IsMember = r.IsMember,
                Fault = NodeFault.FromWire(r.Fault),
            });
        }

        return store;
    }

    /// <summary>The node with the given index, removed nodes included.</summary>
    /// <exception cref="ArgumentOutOfRangeException">No node has that index.</exception>
    public LocalNode Node(int index)
    {
        lock (_lock)
        {
            return _nodes.Find(n => n.Index == index)
                ?? throw new ArgumentOutOfRangeException(nameof(index), index,
                    $"No node {index} in this cluster (nodes: {string.Join(", ", _nodes.Select(n => n.Index))}).");
        }
    }

    /// <summary>The node with the given index, which must not have been removed.</summary>
    /// <exception cref="InvalidOperationException">The node was removed.</exception>
    public LocalNode ExistingNode(int index)
    {
        var node = Node(index);
        if (node.State == NodeState.Removed)
        {
            throw new InvalidOperationException($"Node {index} was removed from the cluster.");
        }

        return node;
    }

    /// <summary>The index a new node gets: the largest index ever used + 1.</summary>
    public int NextIndex()
    {
        var index = Nodes.Select(n => n.Index).DefaultIfEmpty(0).Max() + 1;
        AddressPlan.CheckIndex(index);
        return index;
    }

    /// <summary>A node not yet listed (stopped, not a member) at the address the plan gives its index.</summary>
    public LocalNode NewNode(int index, NodeSpec spec)
    {
        var plan = Settings.Plan;
        var proxied = Settings.FaultProxy;
        return new(index, plan.Host(index), plan.SqlPort(index), plan.HttpPort(index), spec.Placement, spec.Type, Guid.NewGuid().ToString("N"),
            NodeDirectory(index), proxied ? plan.ServerHost(index) : null, proxied ? plan.ServerPort(index) : null,
            Settings.PublicAddresses ? plan.PublicHost(index) : null)
        {
            HostName = Settings.HostNames ? HostsFile.NameOf(plan.Block, index) : null,
            State = NodeState.Stopped,
        };
    }

    /// <summary>Records that the nodes are in <paramref name="state"/> and whether the membership lists them; nodes not yet
    /// listed are added.</summary>
    public void Record(IReadOnlyCollection<LocalNode> nodes, NodeState state, bool isMember) => Change(() =>
    {
        lock (_lock)
        {
            foreach (var node in nodes)
            {
                node.State = state;
                node.IsMember = isMember;
                if (!_nodes.Contains(node))
                {
                    _nodes.Add(node);
                }
            }
        }
    });

    public void SetBehavior(YbServersBehavior behavior) => Change(() => Behavior = behavior);

    public void SetOverride(IReadOnlyList<YbServersRow>? rows) => Change(() => _override = rows is null ? null : [.. rows]);

    public void SetFault(LocalNode node, NodeFault fault) => Change(() => node.Fault = fault);

    /// <summary>Deletes the cluster's files: the whole base directory when the cluster created it, otherwise only its own.</summary>
    public void DeleteFiles()
    {
        if (Settings.OwnsBaseDirectory)
        {
            ClusterDirectories.TryDelete(BaseDirectory);
            return;
        }

        foreach (var node in Nodes)
        {
            ClusterDirectories.TryDelete(node.Directory);
        }

        foreach (var file in new[] { StateFileName, MembershipFileName, RpczPidFileName })
        {
            File.Delete(Path.Combine(BaseDirectory, file));
        }
    }

    string NodeDirectory(int index) => Path.Combine(BaseDirectory, $"node-{index.ToString(CultureInfo.InvariantCulture)}");

    void Change(Action apply)
    {
        apply();
        Save();
    }

    /// <summary>
    /// Writes the membership file (what yb_servers() returns), then the state file. Each is written to a temporary file and
    /// renamed over the old one, so a reader sees either the old or the new content, never a mix.
    /// </summary>
    void Save()
    {
        var nodes = Nodes;
        var rows = _override ?? [.. nodes.Where(n => n.IsMember && n.State != NodeState.Removed).Select(n => new YbServersRow(
            n.HostName ?? n.Host, n.Port, 0, n.Type.ToYbServersName(), n.Placement.Cloud, n.Placement.Region,
            n.Placement.Zone, n.PublicHost ?? n.HostName ?? n.Host, n.Uuid, Settings.UniverseUuid))];
        var delayMs = (long)Behavior.Delay.TotalMilliseconds;
        // Where each member's server is counted: its own address, past any fault proxy (a fault on the clients' path must not
        // stall every yb_servers() call). Rows set by a test stand as they are.
        IReadOnlyList<CountTarget>? counted = Settings.ReportConnections && _override is null
            ? [.. nodes.Where(n => n.IsMember && n.State != NodeState.Removed).Select(n => new CountTarget(n.Uuid, n.ServerHost, n.ServerPort))]
            : null;
        WriteAtomically(MembershipFile, JsonSerializer.SerializeToUtf8Bytes(new MembershipDocument(Behavior.WireName, delayMs, rows, counted), MembershipJson));
        var state = new ClusterStateRecord
        {
            UniverseUuid = Settings.UniverseUuid,
            Port = Settings.Plan.Port,
            RpczPort = Settings.Plan.RpczPort,
            AddressBlock = Settings.Plan.Block,
            SingleAddress = Settings.Plan.SingleAddress,
            BinDirectory = Settings.BinDirectory,
            WithYbServers = Settings.WithYbServers,
            Password = Settings.Password,
            OwnsBaseDirectory = Settings.OwnsBaseDirectory,
            Behavior = Behavior.WireName,
            BehaviorDelayMs = delayMs,
            Override = _override,
            FaultProxy = Settings.FaultProxy,
            Tls = Settings.Tls,
            PublicAddresses = Settings.PublicAddresses,
            HostNames = Settings.HostNames,
            ReportConnections = Settings.ReportConnections,
            Nodes = [.. nodes.Select(n => (n.BehindFaultProxy
                ? Record(n) with { ServerHost = n.ServerHost, ServerPort = n.ServerPort, Fault = n.Fault.WireText }
                : Record(n)) with { PublicHost = n.PublicHost })],
        };
        WriteAtomically(Path.Combine(BaseDirectory, StateFileName), JsonSerializer.SerializeToUtf8Bytes(state, StateJson));
    }

    static NodeRecord Record(LocalNode n) => new(n.Index, n.Host, n.Port, n.RpczPort, n.Placement.Cloud, n.Placement.Region, n.Placement.Zone,
        n.Type, n.State, n.IsMember, n.Uuid);

    static void WriteAtomically(string path, byte[] content)
    {
        var temp = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        File.WriteAllBytes(temp, content);
        // Readable by the postgres account, which reads the membership file through pg_read_file.
        File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        File.Move(temp, path, overwrite: true);
    }
}
