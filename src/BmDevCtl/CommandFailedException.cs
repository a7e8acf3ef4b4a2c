namespace BmDevCtl;

/// <summary>The command cannot be carried out as asked (no cluster, no such node, a cluster already exists, …).</summary>
sealed class CommandFailedException(string message) : Exception(message);
