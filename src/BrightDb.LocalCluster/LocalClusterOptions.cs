namespace BrightDb.LocalCluster;

/// <summary>How to create a <see cref="LocalCluster"/>.</summary>
public sealed class LocalClusterOptions
{
    /// <summary>The nodes to create, in index order (node 1 first). At least one.</summary>
    public IReadOnlyList<NodeSpec> Nodes { get; init; } = [];

    /// <summary>The SQL port of every node (2521, as BrightDB). In single-address mode node i uses <c>Port + i - 1</c>.</summary>
    public int Port { get; init; } = 2521;

    /// <summary>Where the cluster keeps its state, membership file and per-node data and logs.
    /// <see langword="null"/> creates a fresh unique directory under the system temp directory.</summary>
    public string? BaseDirectory { get; init; }

    /// <summary>Serve <c>http://&lt;node address&gt;:8100/rpcz</c> from this process while the cluster object lives.</summary>
    public bool StartRpcz { get; init; }

    /// <summary>The first rpcz port (8100). In single-address mode node i uses <c>RpczPort + i - 1</c>.</summary>
    public int RpczPort { get; init; } = 8100;

    /// <summary>Create <c>yb_servers()</c> in every database. <see langword="false"/> gives plain PostgreSQL servers, as a
    /// driver sees a non-BrightDB server.</summary>
    public bool WithYbServers { get; init; } = true;

    /// <summary>The password of the user <c>bigmath</c> on every node.</summary>
    public string Password { get; init; } = "bigmath";

    /// <summary>Node i listens on <c>127.0.&lt;block&gt;.i</c>; block 0 means <c>127.0.0.i</c> (the CLI's default).
    /// <see langword="null"/> picks a free block in 10..250, locked for the life of the cluster object, so clusters created
    /// concurrently (by parallel tests, in several processes) never collide.</summary>
    public int? AddressBlock { get; init; }

    /// <summary>Put every node on one address (<c>127.0.&lt;block&gt;.1</c>, or 127.0.0.1 for an automatic block) with
    /// consecutive ports, as the tool falls back to when extra loopback addresses cannot be bound.</summary>
    public bool SingleAddress { get; init; }

    /// <summary>The directory holding <c>initdb</c>, <c>pg_ctl</c> and <c>postgres</c>; <see langword="null"/> finds the
    /// newest <c>/usr/lib/postgresql/*/bin</c> (or uses the <c>BRIGHTDB_PG_BIN</c> environment variable).</summary>
    public string? PostgresBinDirectory { get; init; }

    /// <summary>Put a fault-injecting TCP proxy in front of every node: the proxy listens on the address the cluster reports
    /// (<see cref="LocalNode.Host"/>, what <c>yb_servers()</c> lists and <see cref="LocalCluster.ConnectionString"/> gives) and
    /// the server on <see cref="LocalNode.ServerHost"/> (another loopback address, e.g. <c>127.1.&lt;block&gt;.i</c>). Faults are
    /// set with <see cref="LocalCluster.SetFaultAsync"/>. Without it clients reach the servers directly.</summary>
    public bool FaultProxy { get; init; }

    /// <summary>With <see cref="FaultProxy"/>, run the proxies in this process while the cluster object lives (the default);
    /// <see langword="false"/> leaves them to a process of its own, as <c>bm-dev-ctl</c> does (<see cref="FaultProxyServer"/>
    /// with <see cref="FaultProxyControl"/>).</summary>
    public bool ServeFaultProxy { get; init; } = true;

    /// <summary>
    /// Told of each node's progress while the cluster starts: the node, then <c>"starting"</c> when its server is being made
    /// and started, <c>"running"</c> once it answers. Called from several threads at once (the nodes start together).
    /// </summary>
    public Action<LocalNode, string>? NodeProgress { get; init; }

    /// <summary>How long one server may take to start before the operation fails.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Give each node a second, "public" loopback address (<c>127.2.&lt;block&gt;.i</c>, <see cref="LocalNode.PublicHost"/>)
    /// that its server also listens on and that <c>yb_servers()</c> reports in <c>public_ip</c>, as a cluster reached from
    /// outside its network would. Needs loopback aliases (not in single-address mode).</summary>
    public bool PublicAddresses { get; init; }

    /// <summary>Give each node a host name, <c>node&lt;i&gt;.cluster&lt;block&gt;.brightdb.test</c> (<see cref="LocalNode.HostName"/>),
    /// written to the machine's <c>/etc/hosts</c> (removed on destroy), and make <c>yb_servers()</c> report the names
    /// instead of the addresses, as a cluster deployed with DNS names would. With <see cref="PublicAddresses"/>, each name
    /// resolves to both of the node's addresses. Needs write access to <c>/etc/hosts</c> (root).</summary>
    public bool HostNames { get; init; }

    /// <summary>Make <c>yb_servers()</c> report in <c>num_connections</c> the true number of client connections on each node,
    /// counted when it is called (each other node is asked over a connection of the cluster's own; the cluster's own superuser is never counted). Off,
    /// every row reports 0, as YugabyteDB does today. Each call then costs one connection to every other node; a node that
    /// cannot be asked within 2 s reports NULL (unknown).</summary>
    public bool ReportConnections { get; init; }

    /// <summary>Serve TLS: the cluster makes a certificate authority of its own (<see cref="LocalCluster.TlsRootCertificateFile"/>)
    /// and a server certificate per node naming the node's addresses, and its servers accept user bigmath over TLS only.
    /// Nodes added later get their certificates too.</summary>
    public bool Tls { get; init; }

    /// <summary>With <see cref="Tls"/>, the nodes (by index) whose certificate names another address, on purpose: a client
    /// that verifies the server's name refuses them.</summary>
    public IReadOnlyList<int> TlsWrongCertificateNodes { get; init; } = [];

    /// <summary>Extra postgresql.conf lines per node index (tests use it to make one node fail to start).</summary>
    internal Func<int, string?>? ExtraNodeConfiguration { get; init; }
}
