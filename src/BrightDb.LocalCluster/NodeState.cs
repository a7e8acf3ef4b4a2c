namespace BrightDb.LocalCluster;

/// <summary>The state of a node's PostgreSQL server, as last set by the tool.</summary>
public enum NodeState
{
    /// <summary>The server runs and accepts connections.</summary>
    Running,

    /// <summary>The server was stopped cleanly; the node left the membership.</summary>
    Stopped,

    /// <summary>The server was killed with SIGKILL; the node is still listed by <c>yb_servers()</c>.</summary>
    Killed,

    /// <summary>The server processes are stopped with SIGSTOP: TCP connects succeed but nothing is answered.</summary>
    Paused,

    /// <summary>The node was removed from the cluster and its data deleted.</summary>
    Removed,
}
