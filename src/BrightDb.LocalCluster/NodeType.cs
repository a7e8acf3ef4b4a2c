namespace BrightDb.LocalCluster;

/// <summary>The role of a node, as reported in the <c>node_type</c> column of <c>yb_servers()</c>.</summary>
public enum NodeType
{
    /// <summary>A node holding primary data (<c>'primary'</c>).</summary>
    Primary,

    /// <summary>A read replica (<c>'read_replica'</c>).</summary>
    ReadReplica,
}
