using System.Text.Json.Serialization;

namespace BrightDb.LocalCluster.Internal;

/// <summary>One node as the state file records it; the server's own address and the fault only with a fault proxy.</summary>
sealed record NodeRecord(
    int Index,
    string Host,
    int Port,
    int RpczPort,
    string Cloud,
    string Region,
    string Zone,
    NodeType Type,
    NodeState State,
    bool IsMember,
    string Uuid,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] string? ServerHost = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] int ServerPort = 0,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] string? Fault = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] string? PublicHost = null);
