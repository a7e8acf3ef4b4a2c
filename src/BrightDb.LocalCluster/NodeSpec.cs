namespace BrightDb.LocalCluster;

/// <summary>What a node should be: where it is placed and its role.</summary>
/// <param name="Placement">The node's cloud, region and zone.</param>
/// <param name="Type">The node's role.</param>
public sealed record NodeSpec(Placement Placement, NodeType Type = NodeType.Primary);
