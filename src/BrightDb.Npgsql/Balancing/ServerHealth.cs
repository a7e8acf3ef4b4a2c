using BrightDb.Npgsql.Diagnostics;
using Microsoft.Extensions.Logging;

namespace BrightDb.Npgsql.Balancing;

/// <summary>
/// Decides a server's health for one data source, whoever noticed it (an open, Npgsql's failover inside an open, a refresh):
/// it alone marks servers down and up, clears their pools (also when a server leaves the cluster or comes back), logs it,
/// counts it in the metrics, raises the events and asks for an early refresh of the topology.
/// Decision owned (docs/architecture.md): mark down/up.
/// </summary>
sealed class ServerHealth
{
    readonly TimeProvider _time;
    readonly ILogger _log;
    readonly string _dataSourceName;
    readonly TimeSpan _reconnectDelay;
    readonly Action<ServerEndpoint, string> _markedDown;
    readonly Action<ServerEndpoint> _markedUp;
    readonly TimeSpan _attemptLifetime;

    /// <param name="time">The clock of the down-marks.</param>
    /// <param name="log">The failover log category.</param>
    /// <param name="dataSourceName">Tags logs and metrics.</param>
    /// <param name="reconnectDelay">How long a failed server is skipped (<c>Failed Host Reconnect Delay Secs</c>).</param>
    /// <param name="markedDown">Raises the data source's event when a server that was up is marked down.</param>
    /// <param name="markedUp">Raises the data source's event when a server that was down answers again.</param>
    /// <param name="attemptLifetime">How long an attempt to connect may run (the open's <c>Timeout</c>; infinite for none): a
    /// server passed over by an attempt at most this old may have answered again since the attempt began.</param>
    internal ServerHealth(
        TimeProvider time, ILogger log, string dataSourceName, TimeSpan reconnectDelay,
        Action<ServerEndpoint, string> markedDown, Action<ServerEndpoint> markedUp, TimeSpan attemptLifetime)
    {
        _attemptLifetime = attemptLifetime;
        _time = time;
        _log = log;
        _dataSourceName = dataSourceName;
        _reconnectDelay = reconnectDelay;
        _markedDown = markedDown;
        _markedUp = markedUp;
        ReconnectDelayTicks = (long)(reconnectDelay.TotalSeconds * time.TimestampFrequency);
    }

    /// <summary>The reconnect delay in <see cref="TimeProvider"/> timestamp units.</summary>
    internal long ReconnectDelayTicks { get; }

    /// <summary>Asks the topology for an early refresh (a failed server may have left the cluster); set once the topology exists.</summary>
    internal Action? RequestRefresh { get; set; }

    /// <summary>
    /// An open on <paramref name="server"/> failed because the server could not be reached: skip it, and look at the cluster
    /// again. A server that only did not answer in time (<see cref="FailureClassifier.IsSlowAnswer"/>) is suspected, as a
    /// hedge suspects one: skipped while another server is usable, still a last resort, its idle connections kept. A loaded
    /// machine or cluster can make every server answer late at once, and refusing every open then would fail the
    /// application while its servers are alive; a refusal or an ended connection is evidence of a failed server.
    /// </summary>
    internal void Unreachable(ServerEndpoint server, Exception error)
    {
        var reason = FailureClassifier.Describe(error);
        MarkDown(server, reason, suspicion: FailureClassifier.IsSlowAnswer(error));
        Log.FailingOver(_log, server.ToString(), reason);
        DriverMetrics.FailedOver(_dataSourceName, server);
        DriverTracing.FailedOver(_dataSourceName, server, reason);
        RequestRefresh?.Invoke();
    }

    /// <summary>
    /// Npgsql's failover inside one open passed over <paramref name="server"/> for the next host of its data source: the server
    /// refused the connection, did not answer within its share of <c>Timeout</c>, or its idle connection failed the check
    /// before being handed out.
    /// </summary>
    /// <remarks>
    /// <para>
    /// Npgsql keeps the cause to itself, so the server is suspected at once (skipped while another server is usable) and
    /// asked why in the background, with one connection of the driver's own: an error (refused, ended) condemns it and closes
    /// its idle connections; a timeout leaves it suspected (<see cref="Unreachable"/>).
    /// </para>
    /// <para>
    /// The news may be stale: an attempt that began while the server was down (one a hedge gave up on, still waiting on a
    /// hung server) can pass it over after the server answered again and was marked up. Such a server is asked first, and
    /// stays up if it answers (event 3007).
    /// </para>
    /// </remarks>
    internal void PassedOver(ServerEndpoint server, ServerEndpoint reached)
    {
        if (server.DownUntil == 0 && server.MarkedUpAt is var markedUp && markedUp != 0
            && (_attemptLifetime == Timeout.InfiniteTimeSpan || _time.GetElapsedTime(markedUp) < _attemptLifetime))
        {
            _ = ConfirmPassedOverAsync(server, reached);
            return;
        }

        if (MarkPassedOver(server, reached))
            _ = LearnWhyAsync(server);
    }

    /// <summary>Marks a passed-over server down on suspicion, until its cause is known; true when it was up.</summary>
    bool MarkPassedOver(ServerEndpoint server, ServerEndpoint reached)
    {
        const string Reason = "passed over by the failover within an open (it refused a new connection or its credentials, did not answer in time, or an idle connection to it failed its check)";
        var wasUp = server.DownUntil == 0;
        MarkDown(server, Reason, suspicion: true);
        // The connection that reached the next host belongs to this server's data source: cleared pools close it when it is
        // returned, instead of keeping it idle there (StrayConnections).
        server.ClearPool();
        Log.PassedOver(_log, server.ToString(), reached.ToString());
        DriverMetrics.FailedOver(_dataSourceName, server);
        DriverTracing.FailedOver(_dataSourceName, server, Reason);
        RequestRefresh?.Invoke();
        return wasUp;
    }

    async Task ConfirmPassedOverAsync(ServerEndpoint server, ServerEndpoint reached)
    {
        if (await AskAsync(server).ConfigureAwait(false) is not { } cause)
        {
            Log.StalePassOver(_log, server.ToString());
            return;
        }

        MarkPassedOver(server, reached);
        Judge(server, cause);
    }

    /// <summary>
    /// Npgsql's failover within an open keeps the error of a host it passed over to itself: one connection of the driver's
    /// own to that server (unpooled, that server only, within <c>Timeout</c>) tells why, for the log (event 3005), for later
    /// error messages, and to condemn a server that failed with an error (<see cref="Judge"/>). Once per mark-down, in the
    /// background.
    /// </summary>
    async Task LearnWhyAsync(ServerEndpoint server)
    {
        if (await AskAsync(server).ConfigureAwait(false) is { } cause)
            Judge(server, cause);
    }

    /// <summary>
    /// The cause of a pass-over is known: an error turns the suspicion into a down mark (its idle connections closed, no
    /// last resort); a timeout leaves the server suspected. Either way the cause is kept for error messages.
    /// </summary>
    void Judge(ServerEndpoint server, Exception cause)
    {
        var reason = FailureClassifier.Describe(cause);
        if (server.DownUntil != 0 && server.OnlySuspected && !FailureClassifier.IsSlowAnswer(cause))
            MarkDown(server, reason);
        else
            server.NoteFailureCause(reason);
        Log.PassedOverCause(_log, server.ToString(), reason);
    }

    /// <summary>
    /// Opens and closes one connection of the driver's own to a server: <see langword="null"/> when it
    /// answered, else the error. Replaceable in unit tests, which have no server.
    /// </summary>
    internal Func<ServerEndpoint, Task<Exception?>> AskAsync { get; set; } = static async server =>
    {
        try
        {
            var connection = server.ControlDataSource.CreateConnection();
            await using (connection.ConfigureAwait(false))
            {
                await connection.OpenAsync().ConfigureAwait(false);
            }

            return null;
        }
        catch (Exception e)
        {
            return e;
        }
    };

    /// <summary>
    /// Marks <paramref name="server"/> down for the reconnect delay. After an error (not a mere <paramref name="suspicion"/>
    /// of hanging) its idle connections are closed: the server most likely lost them too (a crash, a restart), and they would
    /// fail when handed out, and be counted in the map although the server no longer has them.
    /// </summary>
    internal void MarkDown(ServerEndpoint server, string reason, bool suspicion = false)
    {
        var until = _time.GetTimestamp() + ReconnectDelayTicks;
        var wasUp = server.MarkDown(until == 0 ? 1 : until, reason, suspicion);
        if (!suspicion)
            server.ClearPool();
        if (!wasUp)
            return;
        Log.HostDown(_log, server.ToString(), _reconnectDelay.TotalSeconds, reason);
        DriverMetrics.MarkedDown(_dataSourceName, server);
        _markedDown(server, reason);
    }

    /// <summary>
    /// <paramref name="server"/> ended the driver's watch connection (<see cref="Pooling.ServerWatch"/>): it most likely ended
    /// the pool's idle connections at the same moment (killed, stopped, restarted). They are closed before any is handed out,
    /// and the topology is read again early. The server is not marked down: a restarted server answers at once, and the next
    /// open there finds out either way.
    /// </summary>
    internal void Lost(ServerEndpoint server, Exception error)
    {
        server.ClearPool();
        Log.ServerLost(_log, server.ToString(), FailureClassifier.Describe(error));
        DriverMetrics.Lost(_dataSourceName, server);
        RequestRefresh?.Invoke();
    }

    /// <summary>
    /// <paramref name="server"/> left the cluster: it is never chosen again, and its idle connections are closed (busy ones
    /// when returned), so that it drains as the application finishes with them. A connection opened on it after this (an
    /// open that chose it from the previous snapshot) is closed when returned too (<see cref="ServerEndpoint"/>'s close handler).
    /// </summary>
    internal void Left(ServerEndpoint server) => server.ClearPool();

    /// <summary><paramref name="server"/> is back in the cluster: whatever idled in its pool predates its departure (and maybe its process).</summary>
    internal void Rejoined(ServerEndpoint server) => server.ClearPool();

    /// <summary>A server that was marked down answered: it is up again.</summary>
    internal void MarkUp(ServerEndpoint server)
    {
        var suspectedOnly = server.OnlySuspected;
        if (!server.MarkUp())
            return;
        server.MarkedUpAt = _time.GetTimestamp();
        // Idle connections older than an outage may be to a process that is gone (a slow answer was no outage).
        if (!suspectedOnly)
            server.ClearPool();
        Log.HostUp(_log, server.ToString());
        _markedUp(server);
    }
}
