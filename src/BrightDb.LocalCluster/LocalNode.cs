using BrightDb.LocalCluster.Internal;

namespace BrightDb.LocalCluster;

/// <summary>One node of a <see cref="LocalCluster"/>: a PostgreSQL server on its own address (or port).</summary>
public sealed class LocalNode
{
    internal LocalNode(int index, string host, int port, int rpczPort, Placement placement, NodeType type, string uuid, string directory,
        string? serverHost = null, int? serverPort = null, string? publicHost = null)
    {
        PublicHost = publicHost;
        Index = index;
        Host = host;
        Port = port;
        ServerHost = serverHost ?? host;
        ServerPort = serverPort ?? port;
        RpczPort = rpczPort;
        Placement = placement;
        Type = type;
        Uuid = uuid;
        Directory = directory;
    }

    /// <summary>The node's public address (<see cref="LocalClusterOptions.PublicAddresses"/>), on <see cref="Port"/>, which
    /// <c>yb_servers()</c> reports in <c>public_ip</c>; <see langword="null"/> when it has none.</summary>
    public string? PublicHost { get; }

    /// <summary>The node's host name (<see cref="LocalClusterOptions.HostNames"/>), resolving to <see cref="Host"/> through
    /// <c>/etc/hosts</c>, which <c>yb_servers()</c> reports in <c>host</c>; <see langword="null"/> when it has none.</summary>
    public string? HostName { get; init; }

    /// <summary>The node's 1-based index; never reused after a removal.</summary>
    public int Index { get; }

    /// <summary>The address the server listens on, e.g. <c>127.0.0.2</c>.</summary>
    public string Host { get; }

    /// <summary>The SQL port, 2521 unless the cluster uses a single address.</summary>
    public int Port { get; }

    /// <summary>The address the PostgreSQL server itself listens on: <see cref="Host"/> unless the node is behind a fault proxy
    /// (then e.g. <c>127.1.0.2</c>). The tool's own superuser connections go there, past any fault.</summary>
    public string ServerHost { get; }

    /// <summary>The port of <see cref="ServerHost"/>.</summary>
    public int ServerPort { get; }

    /// <summary>Whether a fault proxy listens on <see cref="Host"/> and forwards to <see cref="ServerHost"/>.</summary>
    public bool BehindFaultProxy => ServerHost != Host || ServerPort != Port;

    /// <summary>The fault the node's proxy injects (<see cref="NodeFault.None"/> without one).</summary>
    public NodeFault Fault { get; internal set; } = NodeFault.None;

    /// <summary>The port of <c>http://Host:RpczPort/rpcz</c> (8100 unless the cluster uses a single address).</summary>
    public int RpczPort { get; }

    /// <summary>The node's cloud, region and zone.</summary>
    public Placement Placement { get; }

    /// <summary>The node's role.</summary>
    public NodeType Type { get; }

    /// <summary>The node's state as last set by the tool.</summary>
    public NodeState State { get; internal set; }

    /// <summary>Whether <c>yb_servers()</c> lists the node (stop and remove take it out, kill and pause do not).</summary>
    public bool IsMember { get; internal set; }

    /// <summary>The node's uuid as reported by <c>yb_servers()</c> (32 hex digits).</summary>
    public string Uuid { get; }

    /// <summary>The node's directory: <c>data</c> (the PostgreSQL data directory) and <c>postgres.log</c>.</summary>
    public string Directory { get; }

    /// <summary>The PostgreSQL data directory.</summary>
    public string DataDirectory => Path.Combine(Directory, "data");

    /// <summary>The server log, for diagnosis.</summary>
    public string LogFile => Path.Combine(Directory, "postgres.log");

    /// <summary>The <c>yb_servers()</c> host value with its port, e.g. <c>127.0.0.2:2521</c>.</summary>
    public string Address => $"{Host}:{Port}";

    /// <summary>The pid of the node's live postmaster, read from its data directory, or null when no server runs there (whatever
    /// <see cref="State"/> says: a server may have died on its own).</summary>
    public int? PostmasterProcessId => NodeServer.PostmasterPid(this);

    /// <inheritdoc/>
    public override string ToString() => $"node {Index} {Address} {Placement} {Type} {State}";
}
