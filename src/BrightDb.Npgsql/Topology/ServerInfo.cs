namespace BrightDb.Npgsql;

/// <summary>The type of a BrightDB server, from the <c>node_type</c> column of <c>yb_servers()</c>.</summary>
public enum ServerNodeType
{
    /// <summary><c>primary</c>: a server of the primary cluster.</summary>
    Primary,

    /// <summary><c>read_replica</c>: a server of a read-replica cluster.</summary>
    ReadReplica,
}

/// <summary>One server of the cluster, as <c>yb_servers()</c> reported it. Immutable.</summary>
public sealed record ServerInfo
{
    /// <summary>Creates a server description.</summary>
    public ServerInfo(string host, int port, ServerNodeType nodeType, string? cloud, string? region, string? zone, string? publicIp, string? uuid)
    {
        ArgumentException.ThrowIfNullOrEmpty(host);
        ArgumentOutOfRangeException.ThrowIfLessThan(port, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, 65535);
        Host = host;
        Port = port;
        NodeType = nodeType;
        Cloud = cloud;
        Region = region;
        Zone = zone;
        PublicIp = publicIp;
        Uuid = uuid;
        ConnectHost = host;
    }

    /// <summary>The server's address inside the cluster (the <c>host</c> column).</summary>
    public string Host { get; }

    /// <summary>The server's SQL port (the <c>port</c> column).</summary>
    public int Port { get; }

    /// <summary>Primary or read replica.</summary>
    public ServerNodeType NodeType { get; }

    /// <summary>The cloud of the server's placement, or <see langword="null"/> when not reported.</summary>
    public string? Cloud { get; }

    /// <summary>The region of the server's placement, or <see langword="null"/> when not reported.</summary>
    public string? Region { get; }

    /// <summary>The zone of the server's placement, or <see langword="null"/> when not reported.</summary>
    public string? Zone { get; }

    /// <summary>The server's public address (the <c>public_ip</c> column), or <see langword="null"/>.</summary>
    public string? PublicIp { get; }

    /// <summary>The server's identifier (the <c>uuid</c> column), or <see langword="null"/>.</summary>
    public string? Uuid { get; }

    /// <summary>
    /// The address this driver connects to: <see cref="Host"/>, or <see cref="PublicIp"/> when the address the
    /// application was given is one of the cluster's public addresses.
    /// </summary>
    public string ConnectHost { get; init; }

    /// <summary>The placement as <c>cloud.region.zone</c>.</summary>
    public string Placement => $"{Cloud}.{Region}.{Zone}";

    /// <inheritdoc />
    public override string ToString() => $"{ConnectHost}:{Port} ({(NodeType == ServerNodeType.Primary ? "primary" : "read_replica")}, {Placement})";
}
