namespace BrightDb.LocalCluster.Internal;

/// <summary>The membership file every node's <c>yb_servers()</c> reads: the discovery behaviour and the rows to return.</summary>
sealed record MembershipDocument(string Behavior, long DelayMs, IReadOnlyList<YbServersRow> Rows);
