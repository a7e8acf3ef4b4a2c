using System.Text.Json.Serialization;

namespace BrightDb.LocalCluster.Internal;

/// <summary>What a cluster is, persisted in its base directory so separate CLI invocations work on the same cluster.</summary>
sealed record ClusterStateRecord
{
    public const int CurrentVersion = 1;

    public int Version { get; init; } = CurrentVersion;

    public required string UniverseUuid { get; init; }

    public required int Port { get; init; }

    public required int RpczPort { get; init; }

    public required int AddressBlock { get; init; }

    public required bool SingleAddress { get; init; }

    public required string BinDirectory { get; init; }

    public required bool WithYbServers { get; init; }

    public required string Password { get; init; }

    /// <summary>Whether destroy deletes the whole base directory (we created it) or only our files in it.</summary>
    public required bool OwnsBaseDirectory { get; init; }

    public required List<NodeRecord> Nodes { get; init; }

    public string Behavior { get; init; } = "normal";

    public long BehaviorDelayMs { get; init; }

    public List<YbServersRow>? Override { get; init; }

    /// <summary>Whether every node's address is a fault proxy's (absent in older files: no proxy).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool FaultProxy { get; init; }

    /// <summary>Whether yb_servers() reports each node's client connections (absent in older files: no).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool ReportConnections { get; init; }

    /// <summary>Whether the nodes have host names (absent in older files: none).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool HostNames { get; init; }

    /// <summary>Whether the nodes have public addresses (absent in older files: none).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool PublicAddresses { get; init; }

    /// <summary>Whether the servers serve TLS (absent in older files: no TLS).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool Tls { get; init; }
}
