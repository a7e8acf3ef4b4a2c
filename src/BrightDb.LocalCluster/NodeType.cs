namespace BrightDb.LocalCluster;

/// <summary>The role of a node, as reported in the <c>node_type</c> column of <c>yb_servers()</c>.</summary>
public enum NodeType
{
    /// <summary>A node holding primary data (<c>'primary'</c>).</summary>
    Primary,

    /// <summary>A read replica (<c>'read_replica'</c>).</summary>
    ReadReplica,
}

/// <summary>How a <see cref="NodeType"/> is written.</summary>
public static class NodeTypeNames
{
    /// <summary>The type as <c>yb_servers()</c> reports it in <c>node_type</c>: <c>primary</c> or <c>read_replica</c>.</summary>
    /// <param name="type">The node's role.</param>
    /// <returns>Its name.</returns>
    public static string ToYbServersName(this NodeType type) => type == NodeType.ReadReplica ? "read_replica" : "primary";
}
