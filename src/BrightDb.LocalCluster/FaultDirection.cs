namespace BrightDb.LocalCluster;

/// <summary>Which way through a node's fault proxy a <see cref="NodeFault.Latency"/> delays data.</summary>
public enum FaultDirection
{
    /// <summary>Client to server: queries arrive late.</summary>
    Up,

    /// <summary>Server to client: results arrive late.</summary>
    Down,

    /// <summary>Both ways: a round trip takes twice the delay longer.</summary>
    Both,
}
