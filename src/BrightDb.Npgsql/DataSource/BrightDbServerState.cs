namespace BrightDb.Npgsql;

/// <summary>
/// One server of the cluster as a data source sees it now (<see cref="BrightDbDataSource.GetServerStates"/>): whether it
/// is marked down and why, the connections the host map counts on it, and whether it belongs to the most preferred group
/// (the first topology level and node type the data source's settings allow). What health checks report.
/// </summary>
/// <param name="Host">The address (or name) the driver connects to.</param>
/// <param name="Port">The server's port.</param>
/// <param name="Server">The server as <c>yb_servers()</c> described it; <see langword="null"/> for a listed host the cluster did not report.</param>
/// <param name="IsMarkedDown">Whether the driver skips it now after a failure (until <c>Failed Host Reconnect Delay Secs</c> passed and an open found it answering again).</param>
/// <param name="LastFailure">Why it was marked down (never a password); <see langword="null"/> when it is up.</param>
/// <param name="Connections">Its count in <see cref="BrightDbDataSource.GetHostToConnectionMap"/>.</param>
/// <param name="IsPreferred">Whether it is in the most preferred group of servers (topology keys' first level, node type).</param>
public sealed record BrightDbServerState(
    string Host, int Port, ServerInfo? Server, bool IsMarkedDown, string? LastFailure, int Connections, bool IsPreferred);
