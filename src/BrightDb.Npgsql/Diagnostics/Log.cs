using Microsoft.Extensions.Logging;

namespace BrightDb.Npgsql.Diagnostics;

/// <summary>
/// Every log message of the driver, source-generated, with stable event ids (1xxx topology, 2xxx balancing,
/// 3xxx failover). No message takes a connection string or a password.
/// </summary>
static partial class Log
{
    internal const string TopologyCategory = "BrightDb.Npgsql.Topology";
    internal const string BalancingCategory = "BrightDb.Npgsql.Balancing";
    internal const string FailoverCategory = "BrightDb.Npgsql.Failover";

    [LoggerMessage(1001, LogLevel.Information, "Cluster topology of data source {DataSource} changed: {Topology}")]
    internal static partial void TopologyChanged(ILogger logger, string dataSource, ClusterTopology topology);

    [LoggerMessage(1002, LogLevel.Warning, "Refreshing the server list of data source {DataSource} failed; keeping the last one and retrying in {RetrySeconds}s: {Error}")]
    internal static partial void RefreshFailed(ILogger logger, string dataSource, double retrySeconds, string error);

    [LoggerMessage(1003, LogLevel.Warning, "Server {Server} has no yb_servers() function: data source {DataSource} connects to the listed hosts without discovering the cluster")]
    internal static partial void YbServersMissing(ILogger logger, string server, string dataSource);

    [LoggerMessage(1004, LogLevel.Warning, "yb_servers() on {Server} returned {Count} unusable row(s), skipped: {Problems}")]
    internal static partial void BadRows(ILogger logger, string server, int count, string problems);

    [LoggerMessage(1005, LogLevel.Information, "Server {Server} left the cluster; its pool is drained as its connections close")]
    internal static partial void ServerRemoved(ILogger logger, string server);

    [LoggerMessage(1006, LogLevel.Debug, "Refreshed the server list of data source {DataSource} through {Server} in {Milliseconds} ms")]
    internal static partial void Refreshed(ILogger logger, string dataSource, string server, double milliseconds);

    [LoggerMessage(2001, LogLevel.Debug, "Chose server {Server} ({InUse} connection(s) open) for a new connection")]
    internal static partial void ServerChosen(ILogger logger, string server, int inUse);

    [LoggerMessage(3001, LogLevel.Warning, "Server {Server} marked down for {DelaySeconds}s: {Error}")]
    internal static partial void HostDown(ILogger logger, string server, double delaySeconds, string error);

    [LoggerMessage(3002, LogLevel.Warning, "Server {Server} is reachable again")]
    internal static partial void HostUp(ILogger logger, string server);

    [LoggerMessage(3003, LogLevel.Information, "Opening a connection on {Server} failed ({Error}); trying another server")]
    internal static partial void FailingOver(ILogger logger, string server, string error);

    [LoggerMessage(3004, LogLevel.Information, "Npgsql's failover passed over {Server} and opened the connection on {Reached}")]
    internal static partial void PassedOver(ILogger logger, string server, string reached);

    [LoggerMessage(3005, LogLevel.Warning, "Server {Server}, passed over by Npgsql's failover, refuses a connection of its own: {Error}")]
    internal static partial void PassedOverCause(ILogger logger, string server, string error);

    [LoggerMessage(3007, LogLevel.Information, "Npgsql's failover passed over {Server} in an open that began before the server answered again; it answers a connection of the driver's own, so it stays up")]
    internal static partial void StalePassOver(ILogger logger, string server);

    [LoggerMessage(3006, LogLevel.Warning, "Server {Server} ended the driver's watch connection ({Error}); its idle connections are closed")]
    internal static partial void ServerLost(ILogger logger, string server, string error);
}
