namespace BrightDb.LocalCluster.Internal;

/// <summary>How a node operation changes whether <c>yb_servers()</c> lists the node.</summary>
enum MembershipChange
{
    /// <summary>The membership keeps or leaves out the node as before (a crashed or hung server stays listed for a while).</summary>
    Keep,

    /// <summary>The node leaves the membership before its server is touched, so drivers stop discovering a server that goes away.</summary>
    LeaveFirst,

    /// <summary>The node joins the membership once its server accepts connections.</summary>
    JoinAfter,
}
