namespace BrightDb.LocalCluster.Internal;

/// <summary>One node as the state file records it.</summary>
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
    string Uuid);
