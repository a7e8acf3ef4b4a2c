using System.Runtime.ExceptionServices;
using BrightDb.Npgsql.Balancing;
using BrightDb.Npgsql.ConnectionStrings;
using BrightDb.Npgsql.Diagnostics;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace BrightDb.Npgsql.Topology;

/// <summary>
/// Reads the cluster's servers from <c>yb_servers()</c> over the driver's own connections (one at a time, closed after the
/// query), and decides which servers to ask: known servers that are up first, then the listed hosts, then servers marked
/// down. A server that cannot be connected to is marked down; one that answers but cannot run the query is not.
/// Decision owned (docs/architecture.md): discover (which servers to ask, and what they said).
/// </summary>
sealed class ClusterDiscovery(
    BrightDbSettings settings, TimeProvider time, ILogger log, string dataSourceName, EndpointRegistry registry, ServerHealth health)
{
    bool _warnedMissing;

    /// <summary>What a discovery found.</summary>
    /// <param name="Topology">The servers to use.</param>
    /// <param name="ProvisionalBecause">Set when the listed hosts stand in because <c>yb_servers()</c> failed on every server
    /// that answered: why, server by server. Read again soon.</param>
    internal readonly record struct Result(ClusterTopology Topology, string? ProvisionalBecause = null);

    /// <summary>Asks the candidates in turn until one answers.</summary>
    /// <param name="current">The snapshot in use, or <see langword="null"/> before the first discovery.</param>
    /// <param name="cancellationToken">Cancelled when the data source is disposed.</param>
    /// <exception cref="NpgsqlException">No server answered.</exception>
    /// <exception cref="PostgresException">A server refused the driver (a wrong password, a missing database).</exception>
    internal async Task<Result> DiscoverAsync(ClusterState? current, CancellationToken cancellationToken)
    {
        var failures = new List<(ServerEndpoint Server, Exception Error)>();
        ServerEndpoint? reachable = null;
        IReadOnlySet<string>? given = null;
        var timeoutSeconds = Math.Max(1, (int)settings.ConnectTimeout.TotalSeconds);
        foreach (var endpoint in Candidates(current))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var started = time.GetTimestamp();
            var opened = false;
            try
            {
                IReadOnlyList<YbServersRow> rows;
                // A connection of its own, not from the application's pools: it is closed after the query, so it never sits idle
                // on a server the application does not use, and the first open chooses its server like every other.
                var connection = endpoint.ControlDataSource.CreateConnection();
                await using (connection.ConfigureAwait(false))
                {
                    await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
                    opened = true;
                    try
                    {
                        rows = await YbServersQuery.RunAsync(connection, timeoutSeconds, async: true, cancellationToken).ConfigureAwait(false);
                    }
                    catch (PostgresException e) when (e.SqlState == YbServersQuery.UndefinedFunction)
                    {
                        if (!_warnedMissing)
                        {
                            _warnedMissing = true;
                            Log.YbServersMissing(log, endpoint.ToString(), dataSourceName);
                        }

                        return new Result(ListedHostsTopology());
                    }
                }

                given ??= await YbServersParser.GivenAddressesAsync(settings.ListedHosts, cancellationToken).ConfigureAwait(false);
                var parsed = YbServersParser.Parse(rows, given, settings.ServerAddresses);
                if (parsed.Problems.Count > 0)
                    Log.BadRows(log, endpoint.ToString(), parsed.Problems.Count, string.Join("; ", parsed.Problems.Take(10)));
                if (parsed.Servers.Count == 0)
                    throw new NpgsqlException($"yb_servers() on {endpoint} returned no usable server.");

                Log.Refreshed(log, dataSourceName, endpoint.ToString(), time.GetElapsedTime(started).TotalMilliseconds);
                DriverTracing.Asked(endpoint);
                return new Result(new ClusterTopology(parsed.Servers, time.GetUtcNow(), fromYbServers: true)
                {
                    ReportedConnections = parsed.Reported,
                });
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                failures.Add((endpoint, e));
                if (opened)
                    reachable ??= endpoint;
                // Only a server that cannot be connected to is marked down: a slow or failing yb_servers() on a server
                // that accepts connections says nothing about its ability to serve the application. One that did not answer
                // in time is only suspected (ServerHealth.Unreachable).
                if (!opened && FailureClassifier.IsServerUnavailable(e, cancellationToken))
                    health.MarkDown(endpoint, FailureClassifier.Describe(e), suspicion: FailureClassifier.IsSlowAnswer(e));
            }
        }

        // Servers accept connections but yb_servers() fails on each. With no topology yet, the listed hosts serve the
        // application meanwhile, as when the function is missing, and discovery is retried soon; a refresh keeps the last one.
        if (reachable is not null && current is null)
            return new Result(ListedHostsTopology(), string.Join("; ", failures.Select(f => $"{f.Server}: {FailureClassifier.Describe(f.Error)}")));

        // The server answered but refused us (a wrong password, a missing database): that is the application's error, as PostgreSQL said it.
        if (failures.FirstOrDefault(f => f.Error is PostgresException p && !FailureClassifier.IsServerUnavailable(p, default)).Error is { } own)
            ExceptionDispatchInfo.Throw(own);
        throw new NpgsqlException(
            "Could not learn the cluster's servers: no listed or known server answered. " +
            string.Join("; ", failures.Select(f => $"{f.Server}: {FailureClassifier.Describe(f.Error)}")),
            failures.Count == 1 ? failures[0].Error : new AggregateException(failures.Select(f => f.Error)));
    }

    /// <summary>Servers to ask, best first: known servers that are up, then the listed hosts, then servers marked down.</summary>
    List<ServerEndpoint> Candidates(ClusterState? current)
    {
        var now = time.GetTimestamp();
        var ordered = new List<ServerEndpoint>();
        // Preferred servers first: the ones the application uses, so a refresh asks a server this data source knows is up.
        if (current is not null)
            ordered.AddRange(current.Plan.Candidates.Concat(current.Servers).Distinct().Where(s => s.DownUntil == 0 && !s.Removed));
        foreach (var listed in settings.ListedHosts)
        {
            var endpoint = registry.GetOrAdd(listed);
            if (!ordered.Contains(endpoint))
                ordered.Add(endpoint);
        }

        // Servers marked down stay candidates, last: when everything seems down, asking costs little and may find it back.
        return [.. ordered.Where(s => s.IsSelectable(now)), .. ordered.Where(s => !s.IsSelectable(now))];
    }

    ClusterTopology ListedHostsTopology() => new([.. settings.ListedHosts.Select(ListedHostInfo)], time.GetUtcNow(), fromYbServers: false);

    /// <summary>A listed host standing in for a server the cluster did not describe: a primary with no placement.</summary>
    internal static ServerInfo ListedHostInfo(HostAndPort host) => new(host.Host, host.Port, ServerNodeType.Primary, null, null, null, null, null);
}
