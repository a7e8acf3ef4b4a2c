namespace BrightDb.LocalCluster.Internal;

/// <summary>The membership file every node's <c>yb_servers()</c> reads: the discovery behaviour and the rows to return.</summary>
/// <param name="Behavior">How <c>yb_servers()</c> behaves (answers, fails, is missing, is slow).</param>
/// <param name="DelayMs">How long a slow <c>yb_servers()</c> sleeps.</param>
/// <param name="Rows">The rows to return.</param>
/// <param name="CountTargets">When set, <c>num_connections</c> is each row's true count of client connections, counted on
/// these servers at the call (matched to the rows by uuid); when <see langword="null"/>, the rows' own value.</param>
sealed record MembershipDocument(string Behavior, long DelayMs, IReadOnlyList<YbServersRow> Rows, IReadOnlyList<CountTarget>? CountTargets = null);

/// <summary>Where the client connections of the node with <paramref name="Uuid"/> are counted.</summary>
sealed record CountTarget(string Uuid, string Host, int Port);
