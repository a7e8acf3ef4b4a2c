using System.Data.Common;
using BrightDb.Npgsql.Balancing;
using BrightDb.Npgsql.ConnectionStrings;
using BrightDb.Npgsql.DataSource;
using BrightDb.Npgsql.Diagnostics;
using BrightDb.Npgsql.Topology;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace BrightDb.Npgsql;

/// <summary>
/// The pool and the balancer for one BrightDB cluster. It learns the cluster's servers from <c>yb_servers()</c>,
/// keeps one Npgsql pool per server, and hands out real <see cref="NpgsqlConnection"/>s opened on the least-loaded
/// eligible server, preferring the placements of <c>Topology Keys</c> and skipping servers that failed.
/// </summary>
/// <remarks>
/// Create one per cluster and user and keep it for the application's lifetime, as with <see cref="NpgsqlDataSource"/>.
/// All of its state (counts, pools, topology) is its own: two data sources never share anything.
/// With <c>Load Balance Hosts=false</c> it is a thin wrapper over a plain Npgsql data source.
/// </remarks>
public sealed class BrightDbDataSource : DbDataSource
{
    static long _lastId;

    readonly BrightDbSettings _settings;
    readonly TimeProvider _time;
    readonly ILoggerFactory _loggerFactory;
    readonly ILogger _balancingLog;
    readonly Action<NpgsqlDataSourceBuilder>? _configureNpgsql;
    readonly NpgsqlDataSource? _plain;
    readonly TopologyManager? _cluster;
    readonly ServerHealth? _health;
    readonly long _reconnectDelayTicks;
    int _disposed;

    internal BrightDbDataSource(
        BrightDbSettings settings, string? name, ILoggerFactory? loggerFactory, Action<NpgsqlDataSourceBuilder>? configureNpgsql, TimeProvider time)
    {
        _settings = settings;
        _time = time;
        _loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        _configureNpgsql = configureNpgsql;
        Name = name ?? $"brightdb-{Interlocked.Increment(ref _lastId)}";
        _balancingLog = _loggerFactory.CreateLogger(Log.BalancingCategory);
        _reconnectDelayTicks = (long)(settings.ReconnectDelay.TotalSeconds * time.TimestampFrequency);

        if (settings.LoadBalance == LoadBalanceMode.Disabled)
        {
            _plain = NpgsqlBuilder(settings.NpgsqlConnectionString(includePassword: true), Name).Build();
        }
        else
        {
            var health = new ServerHealth(
                time, _loggerFactory.CreateLogger(Log.FailoverCategory), Name, settings.ReconnectDelay,
                (server, reason) => HostMarkedDown?.Invoke(this, new ServerStatusEventArgs(server.Address.Host, server.Address.Port, reason)),
                server => HostMarkedUp?.Invoke(this, new ServerStatusEventArgs(server.Address.Host, server.Address.Port, null)));
            TopologyManager? cluster = null;
            var strays = new StrayConnections((host, port) => cluster?.Find(host, port), health, settings.Pooling ? settings.MaxPoolSize : int.MaxValue);
            cluster = new TopologyManager(
                settings, time, _loggerFactory.CreateLogger(Log.TopologyCategory), Name,
                address => new ServerEndpoint(
                    address,
                    endpoint => NpgsqlBuilder(settings.ForServer(endpoint.Address, cluster!.FallbacksFor(endpoint)), PoolName(endpoint)).BuildMultiHost(),
                    // Unpooled, every open is a new physical connection by the application's choice: no limit.
                    settings.Pooling ? settings.MaxConnectingPerServer : int.MaxValue,
                    strays,
                    endpoint => NpgsqlBuilder(settings.ForControl(endpoint.Address), $"{Name}/control/{endpoint.Address}").Build()),
                (old, @new) => TopologyChanged?.Invoke(this, new TopologyChangedEventArgs(old, @new)),
                health);
            _cluster = cluster;
            _health = health;
        }

        DataSourceRegistry.Add(this);
    }

    /// <summary>Creates a data source from a connection string in ADO.NET, libpq or URI form.</summary>
    /// <exception cref="ArgumentException">The string is malformed or holds an unknown keyword or an invalid value.</exception>
    public static BrightDbDataSource Create(string connectionString) => new BrightDbDataSourceBuilder(connectionString).Build();

    /// <summary>Creates a data source from keyword/value pairs (psycopg2's keyword-argument form).</summary>
    /// <exception cref="ArgumentException">An unknown keyword or an invalid value.</exception>
    public static BrightDbDataSource Create(IReadOnlyDictionary<string, object?> properties) => new BrightDbDataSourceBuilder(properties).Build();

    /// <summary>The data source's name: it prefixes the name of each server's Npgsql pool, and tags logs and metrics.</summary>
    public string Name { get; }

    /// <summary>How connections are balanced.</summary>
    public LoadBalanceMode LoadBalanceHosts => _settings.LoadBalance;

    /// <summary>
    /// An Npgsql connection string for the listed hosts, without this driver's keywords and without the password
    /// (unless <c>Persist Security Info=true</c>), as <see cref="NpgsqlDataSource.ConnectionString"/>.
    /// </summary>
    public override string ConnectionString => _settings.NpgsqlConnectionString(includePassword: false);

    /// <summary>The last snapshot learned from <c>yb_servers()</c>; <see langword="null"/> before the first connection or when balancing is off.</summary>
    public ClusterTopology? Topology => _cluster?.Current?.Topology;

    /// <summary>Raised after a refresh found a different set of servers. Handlers run on the refreshing thread: keep them short.</summary>
    public event EventHandler<TopologyChangedEventArgs>? TopologyChanged;

    /// <summary>Raised when a server that was up fails and is skipped for <c>Failed Host Reconnect Delay Secs</c>.</summary>
    public event EventHandler<ServerStatusEventArgs>? HostMarkedDown;

    /// <summary>Raised when a server that was marked down answers again.</summary>
    public event EventHandler<ServerStatusEventArgs>? HostMarkedUp;

    /// <summary>
    /// Creates a closed connection to a server chosen now by the balancer (the least loaded eligible one); it is counted
    /// when opened, on the server it reached. Its <c>Open</c>/<c>OpenAsync</c> fails over within that one call: a server
    /// that refuses, or whose idle connection fails its check, is passed over for the next best ones and marked down.
    /// This is the path of EF Core, Dapper on a closed connection and DI-registered connections. The first call on a new
    /// data source waits for the cluster to be discovered (as the first open does), so that even the first connection
    /// honours topology keys and node types.
    /// </summary>
    /// <exception cref="NpgsqlException">The cluster could not be discovered: no listed host answered.</exception>
    public new NpgsqlConnection CreateConnection()
    {
        ThrowIfDisposed();
        if (_plain is not null)
            return _plain.CreateConnection();

        var state = _cluster!.Current ?? _cluster.GetStateAsync(async: false, CancellationToken.None).AsTask().GetAwaiter().GetResult();
        // With every server marked down, the connection still goes to a candidate: its open then fails with that
        // server's own error, where the application expects errors, rather than here.
        var endpoint = ServerSelector.SelectAndReserve(state.Plan, _time, _reconnectDelayTicks, exclude: null, out _);
        if (endpoint is not null)
            endpoint.Release();
        else
            endpoint = state.Plan.Candidates.FirstOrDefault() ?? throw NoServerAvailable(state, null);
        if (_balancingLog.IsEnabled(LogLevel.Debug))
            Log.ServerChosen(_balancingLog, endpoint.ToString(), endpoint.InUse);

        var connection = endpoint.DataSource.CreateConnection();
        connection.StateChange += endpoint.OnStateChange;
        return connection;
    }

    /// <summary>Opens a connection on the least-loaded eligible server, failing over to the next one if it cannot be reached.</summary>
    /// <exception cref="NpgsqlException">No eligible server could be reached; the message lists each server and why.</exception>
    /// <exception cref="PostgresException">The server refused the connection (for example a wrong password).</exception>
    public new NpgsqlConnection OpenConnection() => OpenCoreAsync(async: false, CancellationToken.None).GetAwaiter().GetResult();

    /// <summary>Opens a connection on the least-loaded eligible server, failing over to the next one if it cannot be reached.</summary>
    /// <exception cref="NpgsqlException">No eligible server could be reached; the message lists each server and why.</exception>
    /// <exception cref="PostgresException">The server refused the connection (for example a wrong password).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled; nothing is left counted.</exception>
    public new ValueTask<NpgsqlConnection> OpenConnectionAsync(CancellationToken cancellationToken = default) => OpenCoreAsync(async: true, cancellationToken);

    async ValueTask<NpgsqlConnection> OpenCoreAsync(bool async, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        if (_plain is not null)
            return async ? await _plain.OpenConnectionAsync(cancellationToken).ConfigureAwait(false) : _plain.OpenConnection();

        var state = await _cluster!.GetStateAsync(async, cancellationToken).ConfigureAwait(false);
        OpenFailures? failures = null;
        while (true)
        {
            var kind = SelectionKind.Normal;
            var endpoint = ServerSelector.SelectAndReserve(state.Plan, _time, _reconnectDelayTicks, failures?.Tried, out kind);
            var isProbe = kind == SelectionKind.Probe;
            if (endpoint is null)
                throw NoServerAvailable(state, failures);

            if (_balancingLog.IsEnabled(LogLevel.Debug))
                Log.ServerChosen(_balancingLog, endpoint.ToString(), endpoint.InUse - 1);

            // Waiting for a place at a busy server is not the server being slow: it happens before the attempt, so the
            // hedge delay only measures the server. A server marked down meanwhile is given up at once.
            if (!endpoint.Gate.TryEnter() && !await WaitForGateAsync(endpoint, kind, failures ??= new OpenFailures(), async, cancellationToken).ConfigureAwait(false))
                continue;

            var attempt = AttemptAsync(endpoint, isProbe, async, cancellationToken);
            // A pooled open with an idle connection completes here, without any further allocation.
            if (attempt.IsCompletedSuccessfully)
                return attempt.Result;

            try
            {
                if (!async || attempt.IsCompleted)
                    return await attempt.ConfigureAwait(false);

                var pending = attempt.AsTask();
                if (_settings.HedgedOpenDelay <= TimeSpan.Zero
                    || !await LooksHungAsync(endpoint, pending, state, cancellationToken).ConfigureAwait(false))
                    return await Abandonable(pending, cancellationToken).ConfigureAwait(false);

                if (await HedgeAsync(endpoint, pending, state, failures ??= new OpenFailures(), cancellationToken).ConfigureAwait(false) is { } hedged)
                    return hedged;
            }
            catch (Exception e) when (FailureClassifier.IsServerUnavailable(e, cancellationToken))
            {
                // Only an open that failed pays for the record of what it tried.
                (failures ??= new OpenFailures()).Add(endpoint, e);
            }
        }
    }

    /// <summary>
    /// Waits for a place among the opens in progress on <paramref name="endpoint"/>; false (the server recorded as tried)
    /// when the server got marked down meanwhile, or when no place came within <c>Timeout</c>. The wait is ours, not the
    /// server's fault: it does not mark the server down.
    /// </summary>
    async ValueTask<bool> WaitForGateAsync(ServerEndpoint endpoint, SelectionKind kind, OpenFailures failures, bool async, CancellationToken cancellationToken)
    {
        var deadline = Environment.TickCount64 + (long)_settings.ConnectTimeout.TotalMilliseconds;
        var timedOut = false;
        try
        {
            // A server chosen normally that gets marked down meanwhile is given up; one chosen despite a down mark is waited for.
            var normal = kind == SelectionKind.Normal;
            if (await endpoint.Gate.WaitAsync(
                    () => (normal && endpoint.DownUntil != 0) || (timedOut = Environment.TickCount64 > deadline), async, cancellationToken).ConfigureAwait(false))
                return true;
        }
        catch
        {
            endpoint.Release();
            throw;
        }

        endpoint.Release();
        if (timedOut)
            failures.Add(endpoint, new TimeoutException(
                $"no place within Timeout ({_settings.ConnectTimeout.TotalSeconds} s) among the {_settings.MaxConnectingPerServer} opens allowed in progress at once"));
        else if (!endpoint.OnlySuspected)
            failures.Tried.Add(endpoint);
        // A server only suspected of hanging stays a candidate: when every other server is full or down, this open comes
        // back to it as a last resort, and then waits for a place there.
        return false;
    }

    /// <summary>
    /// One open on one server, already counted by the selector, its place at the server's gate already taken. The
    /// reservation and the place are released whatever happens: on success the StateChange handler has counted the open
    /// (on the server reached, which Npgsql's failover within the open may have taken to a fallback of this one); on
    /// failure nothing stays counted, and a server that cannot be reached is marked down.
    /// </summary>
    async ValueTask<NpgsqlConnection> AttemptAsync(ServerEndpoint endpoint, bool isProbe, bool async, CancellationToken cancellationToken)
    {
        NpgsqlConnection? connection = null;
        try
        {
            connection = endpoint.DataSource.CreateConnection();
            // Subscribed before opening: the open itself is then counted by the handler, and the reservation taken
            // when choosing is released right after, so a break at any moment is counted down exactly once.
            connection.StateChange += endpoint.OnStateChange;
            if (async)
                await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            else
                connection.Open();
        }
        catch (Exception e)
        {
            endpoint.Gate.Exit();
            endpoint.Release();
            if (connection is not null)
            {
                connection.StateChange -= endpoint.OnStateChange;
                await connection.DisposeAsync().ConfigureAwait(false);
            }

            if (FailureClassifier.IsServerUnavailable(e, cancellationToken))
            {
                _health!.Unreachable(endpoint, e);
            }
            else if (isProbe)
            {
                // The server answered (a wrong password, say): it is up, and the error is the application's to see.
                _health!.MarkUp(endpoint);
            }

            throw;
        }

        endpoint.Gate.Exit();
        endpoint.Release();
        // The StateChange handler noted the sign of life, and marked the server up if it was down (a probe, or a server
        // suspected of hanging that answered after all).
        DriverMetrics.Opened(Name, endpoint);
        return connection;
    }

    /// <summary>
    /// Waits for an attempt, or gives it up as soon as the caller cancels: Npgsql does not always stop waiting for a server
    /// that accepted the connection and never answers. The abandoned attempt runs on until its own <c>Timeout</c>, still
    /// counted where it chose (not in the host map), and its connection, if it opens after all, is closed.
    /// </summary>
    static async Task<NpgsqlConnection> Abandonable(Task<NpgsqlConnection> attempt, CancellationToken cancellationToken)
    {
        if (!cancellationToken.CanBeCanceled)
            return await attempt.ConfigureAwait(false);
        try
        {
            return await attempt.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The attempt may have opened at the very moment the wait was cancelled: its connection is closed all the same,
            // since the caller, told of the cancellation, will never close it.
            CloseWhenOpened(attempt);
            throw;
        }
    }

    /// <summary>
    /// The server has not answered within <c>Hedged Open Delay</c> and looks hung (see <see cref="LooksHungAsync"/>): it may be hung (a paused process still accepts TCP).
    /// It is marked down so that other opens avoid it, and the next best server is tried alongside (and, after each further
    /// hedge delay without an answer, the next one); the first connection to open wins and the others, if they open later,
    /// are closed. The caller's cancellation ends the wait at once. Returns <see langword="null"/> when every attempt
    /// failed because its server was unavailable (recorded in <paramref name="failures"/>).
    /// </summary>
    async Task<NpgsqlConnection?> HedgeAsync(
        ServerEndpoint first, Task<NpgsqlConnection> firstAttempt, ClusterState state, OpenFailures failures, CancellationToken cancellationToken)
    {
        var pending = new List<(ServerEndpoint Server, Task<NpgsqlConnection> Attempt)> { (first, firstAttempt) };
        Suspect(first, failures);
        var canHedge = TryHedge(pending, state, failures, cancellationToken);
        using var timers = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        try
        {
            while (pending.Count > 0)
            {
                // While another server could take a hedge, the newest attempt gets one hedge delay before its server is
                // suspected too and a further attempt starts: two hung zones cost two hedge delays, not a Timeout.
                var waits = new List<Task>(pending.Count + 1);
                waits.AddRange(pending.Select(p => p.Attempt));
                var timer = canHedge ? Task.Delay(_settings.HedgedOpenDelay, _time, timers.Token) : null;
                if (timer is not null)
                    waits.Add(timer);
                var done = await Task.WhenAny(waits).WaitAsync(cancellationToken).ConfigureAwait(false);
                if (done == timer)
                {
                    Suspect(pending[^1].Server, failures);
                    canHedge = TryHedge(pending, state, failures, cancellationToken);
                    continue;
                }

                var index = pending.FindIndex(p => p.Attempt == done);
                var (server, attempt) = pending[index];
                pending.RemoveAt(index);
                if (attempt.IsCompletedSuccessfully)
                    return attempt.Result;

                var error = attempt.Exception?.InnerException ?? new OperationCanceledException(cancellationToken);
                if (!FailureClassifier.IsServerUnavailable(error, cancellationToken))
                    System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(error);
                failures.Add(server, error);
            }

            return null;
        }
        finally
        {
            // Whatever ended the race (a winner, the application's error, the caller's cancellation), the attempts still
            // running are abandoned: their connections, if they open after all, are closed.
            foreach (var loser in pending)
                CloseWhenOpened(loser.Attempt);

            await timers.CancelAsync().ConfigureAwait(false);
        }
    }

    /// <summary>A server that has not answered within the hedge delay: other opens skip it, as a suspect of hanging.</summary>
    void Suspect(ServerEndpoint server, OpenFailures failures)
    {
        _health!.MarkDown(server, $"no answer within the hedged open delay of {_settings.HedgedOpenDelay.TotalMilliseconds} ms", suspicion: true);
        _cluster!.RequestRefresh();
        failures.Tried.Add(server);
    }

    /// <summary>
    /// Starts another attempt alongside, on a server that is up, never the probe of one marked down (two hung zones would
    /// otherwise cost a Timeout), and only where there is room at once: queueing behind a busy server would not hedge.
    /// False when no server could take it.
    /// </summary>
    bool TryHedge(List<(ServerEndpoint Server, Task<NpgsqlConnection> Attempt)> pending, ClusterState state, OpenFailures failures, CancellationToken cancellationToken)
    {
        if (ServerSelector.SelectAndReserve(state.Plan, _time, _reconnectDelayTicks, failures.Tried, out var kind, allowProbe: false) is not { } next)
            return false;
        if (!next.Gate.TryEnter())
        {
            next.Release();
            return false;
        }

        pending.Add((next, AttemptAsync(next, kind == SelectionKind.Probe, async: true, cancellationToken).AsTask()));
        return true;
    }

    /// <summary>
    /// Waits for <paramref name="attempt"/> up to the hedge delay, again and again while hedging would not help. True when
    /// the server has given no sign of life for a whole delay while another candidate has: that server looks hung. A
    /// server that keeps answering other opens, or whose pool of ours is full, is busy, not hung; and when no server
    /// answers at all, the slowness is everywhere (an overloaded client or cluster), where a second attempt only adds load.
    /// </summary>
    async Task<bool> LooksHungAsync(ServerEndpoint server, Task<NpgsqlConnection> attempt, ClusterState state, CancellationToken cancellationToken)
    {
        var delay = _settings.HedgedOpenDelay;
        var started = Environment.TickCount64;
        using var delayCancellation = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        while (true)
        {
            var round = Environment.TickCount64;
            var timer = Task.Delay(delay, _time, delayCancellation.Token);
            if (await Task.WhenAny(attempt, timer).ConfigureAwait(false) == attempt || cancellationToken.IsCancellationRequested)
            {
                await delayCancellation.CancelAsync().ConfigureAwait(false);
                return false;
            }

            // A timer that fires late means this process is starved (CPU, thread pool): everything looks slow from here,
            // servers included, and a hedge would be one more attempt on a client that cannot keep up. Wait another round.
            if (Environment.TickCount64 - round > delay.TotalMilliseconds * 1.5 + 50)
                continue;

            var busy = server.AnsweredWithin(delay) || (_settings.Pooling && server.InUse > _settings.MaxPoolSize);
            // Another server can take the hedge if it answered lately (sequential opens leave it idle while this one waits,
            // so answers from just before this open count) or has no open in progress (untested, not slow). One with opens
            // in progress and no answer is as slow as this one.
            var sinceBeforeStart = delay + TimeSpan.FromMilliseconds(Environment.TickCount64 - started);
            var othersAlive = state.Servers.Any(s => s != server && !s.Removed && s.DownUntil == 0
                                                     && (s.AnsweredWithin(sinceBeforeStart) || s.Gate.Active == 0));
            if (!busy && othersAlive)
                return true;
        }
    }

    /// <summary>An attempt that lost a race: its connection, if it opens after all, is closed (which counts it down).</summary>
    static void CloseWhenOpened(Task<NpgsqlConnection> attempt) =>
        _ = attempt.ContinueWith(static t =>
        {
            if (t.IsCompletedSuccessfully)
                t.Result.Dispose();
            else
                _ = t.Exception;
        }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

    NpgsqlException NoServerAvailable(ClusterState state, OpenFailures? openFailures)
    {
        var reason = state.Plan.EmptyReason;
        var failures = openFailures?.Errors;
        var parts = new List<string>();
        if (failures is not null)
            parts.AddRange(failures.Select(f => $"{f.Server}: {FailureClassifier.Describe(f.Error)}"));
        foreach (var server in state.Plan.Candidates.Where(s => failures?.Any(f => f.Server == s) != true))
            parts.Add($"{server}: skipped, marked down after: {server.LastFailure ?? "an earlier failure"}");

        var message = reason is not null
            ? $"No server to connect to: {reason}."
            : _settings.FallbackToTopologyKeysOnly && _settings.TopologyKeys.Count > 0
                ? $"No server matching Topology Keys '{string.Join(",", _settings.TopologyKeys)}' is available, and Fallback To Topology Keys Only is true. "
                  + string.Join("; ", parts)
                : $"No server of the cluster could be reached ({_settings.LoadBalance}). " + string.Join("; ", parts);
        return new NpgsqlException(message, failures is { Count: 1 } ? failures[0].Error : failures is { Count: > 1 } ? new AggregateException(failures.Select(f => f.Error)) : null);
    }

    /// <summary>
    /// Connections open on each server, by the server's host as the cluster reports it (<c>host:port</c> when two servers
    /// share a host). Pooled, every physical connection counts, idle ones included, as the server sees them; unpooled,
    /// every open connection. A connection counts on the server it reached; an open still in progress (one abandoned by a
    /// hedge and still waiting on a hung server included) does not. Servers of the current snapshot are listed even at 0;
    /// a server that left the cluster is listed while connections to it remain.
    /// </summary>
    public IReadOnlyDictionary<string, int> GetHostToConnectionMap()
    {
        var map = new Dictionary<string, int>(StringComparer.Ordinal);
        if (_cluster is null || Volatile.Read(ref _disposed) != 0)
            return map;

        var state = _cluster.Current;
        var pools = _settings.Pooling ? NpgsqlPoolMetrics.ReadConnectionsByPool() : null;
        foreach (var endpoint in _cluster.AllEndpoints())
        {
            var count = pools is null ? endpoint.OpenConnections : PhysicalConnections(endpoint, pools);
            count = Math.Max(0, count);
            var active = state is not null && state.Servers.Contains(endpoint);
            if (active || count > 0)
                map[endpoint.MapKey] = map.GetValueOrDefault(endpoint.MapKey) + count;
        }

        return map;
    }

    /// <summary>
    /// The physical connections on a server, from its pools' own count: minus the strays in them (counted on the server
    /// they reached), plus those of other servers' pools that reached this one, minus the opens in progress (a connection
    /// being opened is in the pool's count already).
    /// </summary>
    int PhysicalConnections(ServerEndpoint endpoint, Dictionary<string, int> pools)
    {
        var (strayOut, strayIn) = endpoint.Strays;
        if (endpoint.PoolsIfCreated is null)
            return strayIn;
        return pools.GetValueOrDefault(PoolName(endpoint)) - strayOut + strayIn - endpoint.Gate.Active;
    }

    /// <summary>Reads <c>yb_servers()</c> now instead of waiting for the refresh interval.</summary>
    /// <exception cref="InvalidOperationException">Balancing is off.</exception>
    public async Task<ClusterTopology> RefreshTopologyAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        if (_cluster is null)
            throw new InvalidOperationException("Load Balance Hosts is false: this data source does not discover the cluster.");
        return (await _cluster.RefreshAsync(cancellationToken).ConfigureAwait(false)).Topology;
    }

    /// <summary>The servers of the current snapshot, for metrics.</summary>
    internal IEnumerable<ServerEndpoint> ActiveEndpoints() => _cluster?.Current?.Servers ?? [];

    string PoolName(ServerEndpoint endpoint) => $"{Name}/{endpoint.Address}";

    NpgsqlDataSourceBuilder NpgsqlBuilder(string connectionString, string name)
    {
        var builder = new NpgsqlDataSourceBuilder(connectionString) { Name = name };
        builder.UseLoggerFactory(_loggerFactory);
        _configureNpgsql?.Invoke(builder);
        return builder;
    }

    void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);

    /// <inheritdoc />
    protected override DbConnection CreateDbConnection() => CreateConnection();

    /// <inheritdoc />
    protected override DbConnection OpenDbConnection() => OpenConnection();

    /// <inheritdoc />
    protected override async ValueTask<DbConnection> OpenDbConnectionAsync(CancellationToken cancellationToken = default) =>
        await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
            DisposeAsyncCore().AsTask().GetAwaiter().GetResult();
        base.Dispose(disposing);
    }

    /// <inheritdoc />
    protected override async ValueTask DisposeAsyncCore()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        DataSourceRegistry.Remove(this);
        if (_plain is not null)
            await _plain.DisposeAsync().ConfigureAwait(false);
        if (_cluster is not null)
            await _cluster.DisposeAsync().ConfigureAwait(false);
    }

    /// <inheritdoc />
    public override string ToString() => $"{nameof(BrightDbDataSource)} {Name} ({_settings.LoadBalance}, {string.Join(",", _settings.ListedHosts)})";
}
