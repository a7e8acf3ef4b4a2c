using BrightDb.Npgsql.Balancing;
using BrightDb.Npgsql.ConnectionStrings;
using BrightDb.Npgsql.DataSource;
using BrightDb.Npgsql.Diagnostics;
using BrightDb.Npgsql.Pooling;
using BrightDb.Npgsql.Topology;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace BrightDb.Npgsql.Opening;

// The flow of one open through the balancer (OpenAsync, OpenSlowAsync). This file runs over 400 lines: the overview and
// the seven steps stay together, so that an open reads top to bottom.
//
//  1. Snapshot. TopologyManager hands out the current ClusterState at once; only the first discovery (and a refresh
//     interval of 0) waits for yb_servers(). Refreshes run on its timer.
//  2. Select. ServerSelector takes the first group of the SelectionPlan with a usable server, and there the least-loaded
//     one (ties at random); choosing counts an open in progress on it in the same compare-and-swap. The count is the
//     attempt's OpenTicket.
//  3. Gate. The ticket takes a place among the opens in progress on that server (ConnectGate). Waiting for a place is the
//     application's doing, not the server's: it never marks the server down, and it ends when the server is marked down
//     by another open, or at Timeout.
//  4. Attempt. A connection from one of the server's Npgsql data sources is opened: pooled with Host Recheck Seconds above
//     0 (the default), its direct pool (this server only) until the data source creates a connection for others
//     (ShareServerPools); otherwise its multi-host one (this server, then its fallbacks). Its StateChange handler counts it
//     on the server it reached (and, pooled with Host Recheck Seconds above 0, starts that server's ServerWatch, which
//     closes the pools' idle connections when the server ends it); the ticket is then released. A pooled open that finds
//     an idle connection ends here, synchronously, unless that connection is checked first: when the server's last check
//     is older than Host Recheck Seconds or its watch is not connected, by the driver (ServerEndpoint.DirectForOpen,
//     IdleConnectionCheck) or by Npgsql (ServerEndpoint.DataSourceForOpen).
//  5. Hedge. Asynchronously, an attempt still waiting after Hedged Open Delay is judged by HungServerPolicy; a server that
//     looks hung is suspected, and HedgedOpen races the next best servers against it.
//  6. Fail over. An attempt that failed because its server is unavailable marks it down (ServerHealth), is recorded in
//     OpenFailures, and the open goes back to 2 without that server. Any other error is the application's, thrown as is.
//  7. No server left. The open fails with an error naming each server and why it was not used.
//
// The common asynchronous open (a snapshot at hand, a place free at the gate, an idle connection) runs 1 to 4 in OpenAsync
// and AttemptAsync, neither of them an asynchronous method; whatever has to wait continues in OpenSlowAsync and
// EndAttemptAsync from where it stopped.
//
// CreateConnection (EF Core, Dapper, DI) is 1 and 2, with the count released at once: the connection's own Open is
// Npgsql's, which does 4 and 6 over the server's host list; the StateChange handler counts it and reports a server
// passed over to ServerHealth.

/// <summary>
/// Opens connections on the least-loaded eligible server of a discovered cluster, failing over and hedging: the flow above.
/// It owns the balanced data source's parts (topology, health, pools) and wires them together.
/// Decision owned (docs/architecture.md): open (and fail over to the next server).
/// </summary>
sealed class BalancedOpener : IConnectionOpener
{
    readonly BrightDbSettings _settings;
    readonly TimeProvider _time;
    readonly string _name;
    readonly ILogger _balancingLog;
    readonly NpgsqlDataSourceFactory _dataSources;
    readonly ServerHealth _health;
    readonly TopologyManager _topology;
    readonly HedgedOpen _hedged;

    /// <summary>
    /// 1 while opens through the driver use each server's direct pool (pooled, with the servers watched: <see
    /// cref="BrightDbSettings.WatchServers"/>), 0 otherwise: unpooled, with every idle connection checked by Npgsql, or once
    /// a connection or a command was created for others to open (<see cref="ShareServerPools"/>).
    /// </summary>
    int _directOpens;

    internal BalancedOpener(
        BrightDbSettings settings, string name, TimeProvider time, ILoggerFactory loggerFactory, NpgsqlDataSourceFactory dataSources,
        BrightDbDataSourceEvents events)
    {
        _settings = settings;
        _time = time;
        _name = name;
        _dataSources = dataSources;
        _balancingLog = loggerFactory.CreateLogger(Log.BalancingCategory);
        _health = new ServerHealth(time, loggerFactory.CreateLogger(Log.FailoverCategory), name, settings.ReconnectDelay, events.MarkedDown, events.MarkedUp,
            settings.HasConnectTimeout ? settings.ConnectTimeout : Timeout.InfiniteTimeSpan);
        TopologyManager? topology = null;
        var strays = new StrayConnections((host, port) => topology?.Find(host, port), _health, settings.Pooling ? settings.MaxPoolSize : int.MaxValue);
        topology = new TopologyManager(
            settings, time, loggerFactory.CreateLogger(Log.TopologyCategory), name,
            address =>
            {
                var endpoint = new ServerEndpoint(
                    address,
                    endpoint => dataSources.ServerPools(endpoint, endpoint.Fallbacks = topology!.FallbacksFor(endpoint)),
                    // Unpooled, every open is a new physical connection by the application's choice: no limit.
                    settings.Pooling ? settings.MaxConnectingPerServer : int.MaxValue,
                    strays,
                    dataSources.Control,
                    time,
                    dataSources.Direct,
                    settings.HostRecheck);
                // Unpooled, no connection idles; with every idle connection checked (Host Recheck Seconds=0), nothing to add.
                if (settings.WatchServers)
                    endpoint.Watch = new ServerWatch(endpoint, _health.Lost, time, settings.ReconnectDelay);
                return endpoint;
            },
            events.TopologyChanged,
            _health);
        topology.OwnConnections = () => HostConnectionMap.ByServer(settings.Pooling ? dataSources.PoolName : null);
        _topology = topology;
        _hedged = new HedgedOpen(this, settings, time, _health, topology);
        _directOpens = settings.WatchServers ? 1 : 0;
    }

    /// <summary>
    /// A connection or command is created for others to open (EF Core, Dapper, DI): from now on, the opens through the driver
    /// share each server's multi-host pools with them, and the direct pools are given up, so that a server's connections
    /// live in one pool that <c>Max Pool Size</c> bounds. Once per data source; one volatile read on later calls.
    /// </summary>
    void ShareServerPools()
    {
        if (Volatile.Read(ref _directOpens) == 0 || Interlocked.Exchange(ref _directOpens, 0) == 0)
            return;
        foreach (var endpoint in _topology.AllEndpoints())
            endpoint.RetireDirect();
    }

    public ClusterTopology? Topology => _topology.Current?.Topology;

    public IEnumerable<ServerEndpoint> ActiveEndpoints => _topology.Current?.Servers ?? [];

    public IReadOnlyDictionary<string, int> HostToConnectionMap() =>
        HostConnectionMap.Read(_topology, _settings.Pooling ? _dataSources.PoolName : null);

    public IReadOnlyList<BrightDbServerState> ServerStates() => ServerStates(_settings.LoadBalance);

    /// <summary>The servers of the current snapshot as chosen by <paramref name="mode"/> (the data source's own, or a view's).</summary>
    internal IReadOnlyList<BrightDbServerState> ServerStates(LoadBalanceMode mode)
    {
        if (_topology.Current?.ForMode(mode, _settings) is not { } state)
            return [];
        var map = HostToConnectionMap();
        var preferred = state.Plan.Preferred;
        return [.. state.Servers.Select(s => new BrightDbServerState(
            s.Address.Host, s.Address.Port, s.Info, s.DownUntil != 0, s.DownUntil != 0 ? s.LastFailure : null,
            map.GetValueOrDefault(s.HostMapKey), preferred.Contains(s)))];
    }

    public IEnumerable<NpgsqlDataSource> NpgsqlDataSources =>
        _topology.AllEndpoints().SelectMany(e => new NpgsqlDataSource?[] { e.PoolsIfCreated, e.DirectIfCreated, e.ControlIfCreated }).OfType<NpgsqlDataSource>();

    public async Task<ClusterTopology> RefreshTopologyAsync(CancellationToken cancellationToken) =>
        (await _topology.RefreshAsync(cancellationToken).ConfigureAwait(false)).Topology;

    public Task ReloadTypesAsync(bool async, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        foreach (var endpoint in _topology.AllEndpoints())
            endpoint.RenewPools();
        return Task.CompletedTask;
    }

    public NpgsqlConnection CreateConnection() => CreateConnection(_settings.LoadBalance);

    /// <summary><see cref="CreateConnection()"/> choosing by <paramref name="mode"/> (a view of the data source).</summary>
    internal NpgsqlConnection CreateConnection(LoadBalanceMode mode)
    {
        ShareServerPools();
        var endpoint = ChooseNow(mode);
        var connection = endpoint.DataSourceForOpen().CreateConnection();
        connection.StateChange += endpoint.OnStateChange;
        return connection;
    }

    public NpgsqlDataSource ChooseDataSource() => ChooseDataSource(_settings.LoadBalance);

    /// <summary><see cref="ChooseDataSource()"/> choosing by <paramref name="mode"/> (a view of the data source).</summary>
    internal NpgsqlDataSource ChooseDataSource(LoadBalanceMode mode)
    {
        ShareServerPools();
        var endpoint = ChooseNow(mode);
        // Npgsql keeps a data-source command's connection to itself, so no count starts the server's watch: the command does.
        endpoint.Watch?.EnsureRunning();
        return endpoint.DataSourceForOpen();
    }

    /// <summary>Steps 1 and 2 of the flow, with the count released at once: the server a connection or command created now is for.</summary>
    ServerEndpoint ChooseNow(LoadBalanceMode mode)
    {
        // 1. The first call on a new data source waits for the discovery, so that even the first connection honours
        //    topology keys and node types.
        var state = (_topology.Current ?? _topology.GetStateAsync(async: false, CancellationToken.None).AsTask().GetAwaiter().GetResult())
            .ForMode(mode, _settings);
        // 2. With every server marked down, the connection still goes to a candidate: its open then fails with that
        //    server's own error, where the application expects errors, rather than here.
        var endpoint = Select(state, exclude: null, out _);
        if (endpoint is not null)
            endpoint.Release();
        else
            endpoint = state.Plan.Candidates.FirstOrDefault() ?? throw OpenFailures.NoServerAvailable(state, null, _settings);
        if (_balancingLog.IsEnabled(LogLevel.Debug))
            Log.ServerChosen(_balancingLog, endpoint.ToString(), endpoint.InUse);
        return endpoint;
    }

    public ValueTask<NpgsqlConnection> OpenAsync(bool async, CancellationToken cancellationToken) =>
        OpenAsync(_settings.LoadBalance, async, cancellationToken);

    /// <summary>
    /// The open choosing by <paramref name="mode"/>: the data source's own, or a view's. The common asynchronous open (a
    /// snapshot at hand, a server up with a free place at its gate, an idle connection in its pool) runs steps 1 to 4
    /// here, without an asynchronous method of its own; anything else continues in <see cref="OpenSlowAsync"/> from where
    /// it stopped.
    /// </summary>
    internal ValueTask<NpgsqlConnection> OpenAsync(LoadBalanceMode mode, bool async, CancellationToken cancellationToken)
    {
        // 1.
        if (!async || !_topology.TryGetStateNow(out var current))
            return OpenSlowAsync(mode, handedOver: null, async, cancellationToken);
        var state = current.ForMode(mode, _settings);
        // 2. No server: the slow path selects again and fails with each server's reason.
        if (Select(state, exclude: null, out var kind) is not { } endpoint)
            return OpenSlowAsync(mode, handedOver: null, async, cancellationToken);
        if (_balancingLog.IsEnabled(LogLevel.Debug))
            Log.ServerChosen(_balancingLog, endpoint.ToString(), endpoint.InUse - 1);

        // 3. Waiting for a place is the slow path's, with the server chosen here.
        var ticket = new OpenTicket(endpoint);
        if (!ticket.TryEnterGate())
            return OpenSlowAsync(mode, new HandedOver(state, endpoint, kind, Attempt: null), async, cancellationToken);

        // 4. The first attempt, when nothing was waited for, is bounded by Npgsql's own Timeout.
        var attempt = AttemptAsync(ticket, kind == SelectionKind.Probe, async: true, cancellationToken, cancellationToken, budgetTimer: null);
        return attempt.IsCompletedSuccessfully
            ? attempt
            : OpenSlowAsync(mode, new HandedOver(state, endpoint, kind, attempt), async, cancellationToken);
    }

    /// <summary>
    /// What <see cref="OpenAsync(LoadBalanceMode, bool, CancellationToken)"/> did before handing an open over to
    /// <see cref="OpenSlowAsync"/>: the snapshot, the server chosen (counted) and how, and the attempt on it, if it started
    /// one (then the attempt owns the server's count and its place at the gate).
    /// </summary>
    readonly record struct HandedOver(ClusterState State, ServerEndpoint Server, SelectionKind Kind, ValueTask<NpgsqlConnection>? Attempt);

    /// <summary>The flow above, from the start or from where <paramref name="handedOver"/> says the open stopped.</summary>
    async ValueTask<NpgsqlConnection> OpenSlowAsync(LoadBalanceMode mode, HandedOver? handedOver, bool async, CancellationToken cancellationToken)
    {
        // 1. The open's Timeout counts from here when it waits for a discovery.
        var budget = new OpenBudget(_settings, _time);
        ClusterState state;
        if (handedOver is { } handed)
        {
            state = handed.State;
        }
        else
        {
            if (_topology.OpensWait)
                budget.Start();
            state = (await _topology.GetStateAsync(async, cancellationToken).ConfigureAwait(false)).ForMode(mode, _settings);
        }

        OpenFailures? failures = null;
        try
        {
            while (true)
            {
                ServerEndpoint endpoint;
                SelectionKind kind;
                ValueTask<NpgsqlConnection> attempt;
                var startedAttempt = handedOver?.Attempt;
                if (handedOver is { } chosen)
                {
                    (endpoint, kind) = (chosen.Server, chosen.Kind);
                    handedOver = null;
                }
                else
                {
                    // 2. Nothing more is tried once the open's Timeout is spent.
                    if (budget.Exhausted)
                        throw OpenFailures.NoServerAvailable(state, failures, _settings, timeoutSpent: true);
                    if (Select(state, failures?.Tried, out kind) is not { } selected)
                        throw OpenFailures.NoServerAvailable(state, failures, _settings);
                    endpoint = selected;
                    if (_balancingLog.IsEnabled(LogLevel.Debug))
                        Log.ServerChosen(_balancingLog, endpoint.ToString(), endpoint.InUse - 1);
                }

                if (startedAttempt is { } started)
                {
                    attempt = started;
                }
                else
                {
                    // 3. A server marked down meanwhile is given up at once.
                    var ticket = new OpenTicket(endpoint);
                    var gateWaited = false;
                    if (!ticket.TryEnterGate())
                    {
                        budget.Start();
                        gateWaited = true;
                        bool entered;
                        try
                        {
                            entered = await WaitForGateAsync(endpoint, kind, failures ??= new OpenFailures(), budget.Remaining, async, cancellationToken)
                                .ConfigureAwait(false);
                        }
                        catch
                        {
                            ticket.Release();
                            throw;
                        }

                        if (!entered)
                        {
                            ticket.Release();
                            continue;
                        }

                        ticket.Entered();
                    }

                    // 4. A pooled open with an idle connection completes here, without any further allocation. The first
                    //    attempt, when nothing was waited for, is bounded by Npgsql's own Timeout; any other gets what is left
                    //    of it (a synchronous open then runs Npgsql's asynchronous open and waits for it, the one way to bound
                    //    it). An open that waited for the discovery has already spent part of its Timeout: its first attempt
                    //    gets what is left.
                    var bounded = failures is not null || gateWaited || budget.Started;
                    if (!async)
                    {
                        // A synchronous attempt returns only once it ended: the clock must run before it, in case it fails.
                        budget.Start();
                    }

                    var attemptToken = bounded ? budget.Token(cancellationToken) : cancellationToken;
                    var attemptAsync = async || attemptToken != cancellationToken;
                    attempt = AttemptAsync(ticket, kind == SelectionKind.Probe, attemptAsync, attemptToken, cancellationToken, budget.Timer);
                    if (attempt.IsCompletedSuccessfully)
                        return attempt.Result;
                }

                budget.Start();
                try
                {
                    if (attempt.IsCompleted)
                        return async ? await attempt.ConfigureAwait(false) : attempt.Result;
                    if (!async)
                    {
                        // A synchronous open bounded by what is left of its Timeout runs Npgsql's asynchronous open, and waits.
                        return HedgedOpen.AbandonableSync(attempt.AsTask(), endpoint, budget.Remaining, _time, cancellationToken);
                    }

                    // 5.
                    var pending = attempt.AsTask();
                    if (_settings.HedgedOpenDelay <= TimeSpan.Zero
                        || !await _hedged.LooksHungAsync(endpoint, pending, state, budget.Remaining, cancellationToken).ConfigureAwait(false))
                    {
                        return await HedgedOpen.Abandonable(pending, endpoint, budget.Remaining, _time, cancellationToken).ConfigureAwait(false);
                    }

                    var raceToken = budget.Token(cancellationToken);
                    using var hedge = DriverTracing.StartHedge(_name, endpoint);
                    NpgsqlConnection? hedged;
                    try
                    {
                        hedged = await _hedged.RaceAsync(endpoint, pending, state, failures ??= new OpenFailures(), budget, raceToken, cancellationToken)
                            .ConfigureAwait(false);
                    }
                    catch (Exception e)
                    {
                        DriverTracing.Failed(hedge, e);
                        throw;
                    }

                    DriverTracing.HedgeEnded(hedge, hedged);
                    if (hedged is not null)
                        return hedged;
                }
                catch (Exception e) when (FailureClassifier.IsServerUnavailable(e, cancellationToken))
                {
                    // 6. Only an open that failed pays for the record of what it tried.
                    (failures ??= new OpenFailures()).Add(endpoint, e);
                }
            }
        }
        finally
        {
            budget.Dispose();
        }
    }

    /// <summary>Step 2: the least-loaded usable server, already counted (an open in progress), or <see langword="null"/>.</summary>
    internal ServerEndpoint? Select(ClusterState state, HashSet<ServerEndpoint>? exclude, out SelectionKind kind, bool allowProbe = true) =>
        ServerSelector.SelectAndReserve(state.Plan, _time, _health.ReconnectDelayTicks, exclude, out kind, allowProbe);

    /// <summary>
    /// Step 3: waits for a place among the opens in progress on <paramref name="endpoint"/>; false (the server recorded as
    /// tried) when the server got marked down meanwhile, or when no place came within <paramref name="timeout"/> (what is
    /// left of the open's <c>Timeout</c>). The wait is ours, not
    /// the server's fault: it does not mark the server down.
    /// </summary>
    async ValueTask<bool> WaitForGateAsync(
        ServerEndpoint endpoint, SelectionKind kind, OpenFailures failures, TimeSpan timeout, bool async, CancellationToken cancellationToken)
    {
        // A server chosen normally that gets marked down meanwhile is given up; one chosen despite a down mark is waited for.
        var normal = kind == SelectionKind.Normal;
        var result = await endpoint.Gate.WaitAsync(
            timeout, _time, () => normal && endpoint.DownUntil != 0, async, cancellationToken).ConfigureAwait(false);
        switch (result)
        {
            case ConnectGate.WaitResult.Entered:
                return true;
            case ConnectGate.WaitResult.TimedOut:
                failures.Add(endpoint, new TimeoutException(
                    $"no place within Timeout ({_settings.ConnectTimeout.TotalSeconds} s) among the {_settings.MaxConnectingPerServer} opens allowed in progress at once"));
                return false;
            default:
                // A server only suspected of hanging stays a candidate: when every other server is full or down, this open
                // comes back to it as a last resort, and then waits for a place there.
                if (!endpoint.OnlySuspected)
                    failures.Tried.Add(endpoint);
                return false;
        }
    }

    /// <summary>
    /// Step 4: one open on one server; the <paramref name="ticket"/> (its count and its place at the gate) is released
    /// whatever happens. On success the StateChange handler has counted the open on the server reached (Npgsql's failover
    /// within the open may have taken it to a fallback of this one); on failure nothing stays counted, and a server that
    /// cannot be reached is marked down.
    /// </summary>
    /// <param name="ticket">The server's count and gate place, released here.</param>
    /// <param name="isProbe">Whether this attempt probes a server marked down.</param>
    /// <param name="async">Whether to run Npgsql's asynchronous open.</param>
    /// <param name="attemptToken">Cancels the attempt: the caller's token, or one that the open's budget also cancels.</param>
    /// <param name="callerToken">The caller's own token.</param>
    /// <param name="budgetTimer">The open's budget timer, if any: an attempt it cut short says nothing about the server.</param>
    internal ValueTask<NpgsqlConnection> AttemptAsync(
        OpenTicket ticket, bool isProbe, bool async, CancellationToken attemptToken, CancellationToken callerToken, CancellationTokenSource? budgetTimer)
    {
        var endpoint = ticket.Server;
        NpgsqlConnection? connection = null;
        NpgsqlDataSource? direct = null;
        var check = false;
        Task open;
        try
        {
            // A probe tries the server itself: Npgsql may still count it offline from the failure that marked it down, and
            // would pass over it to the next host of its data source without trying it; DataSourceForOpen clears that record.
            if (isProbe)
                endpoint.NoteNpgsqlFailure();
            if (Volatile.Read(ref _directOpens) != 0)
                direct = endpoint.DirectForOpen(out check);
            connection = (direct ?? endpoint.DataSourceForOpen()).CreateConnection();
            // Subscribed before opening: the open itself is then counted by the handler, and the count taken when choosing
            // is released right after, so a break at any moment is counted down exactly once. A connection to be checked
            // is counted alike, but is no sign of life until its check passed.
            connection.StateChange += check ? endpoint.OnStateChangeBeforeCheck : endpoint.OnStateChange;
            if (async)
            {
                open = connection.OpenAsync(attemptToken);
                // An idle connection of the direct pool due for a check (a new connection, made just now, needs none).
                if (check && open.IsCompletedSuccessfully)
                    return CheckAttemptAsync(ticket, isProbe, connection, direct!, attemptToken, callerToken, budgetTimer);
            }
            else
            {
                connection.Open();
                if (check)
                    CheckSync(connection, endpoint, callerToken, budgetTimer, attemptToken);
                open = Task.CompletedTask;
            }
        }
        catch (Exception e)
        {
            open = Task.FromException(e);
        }

        if (!open.IsCompletedSuccessfully)
        {
            // Npgsql's open returns at its first wait (connecting, in effect): the time from here is the server's answer.
            return EndAttemptAsync(
                ticket, isProbe, connection, direct, check, open, endpoint.TimingStart(), attemptToken, callerToken, budgetTimer);
        }

        // An idle connection, or a synchronous open: no asynchronous method on the way.
        ticket.Release();
        // The StateChange handler noted the sign of life, and marked the server up if it was down (a probe, or a server
        // suspected of hanging that answered after all); for a checked connection, that is done now it passed.
        if (direct is not null)
        {
            if (check)
                endpoint.NoteOpenedHere();
            endpoint.NoteDirectOpened(direct);
        }

        DriverMetrics.Opened(_name, endpoint);
        return new ValueTask<NpgsqlConnection>(connection!);
    }

    /// <summary>
    /// Whether a failed check of an idle connection is judged as it is: the caller cancelled, the open's time ran out, or the
    /// server did not answer in time (slow or hung, as any attempt). Any other failure of a check means that connection was
    /// dead (ended by the server, an idle-session timeout, a dropped network path).
    /// </summary>
    static bool CheckFailedOnTime(Exception e, CancellationTokenSource? budgetTimer, CancellationToken attemptToken, CancellationToken callerToken) =>
        callerToken.IsCancellationRequested || OpenBudget.RanOut(budgetTimer, attemptToken, callerToken) || FailureClassifier.IsSlowAnswer(e);

    /// <summary>
    /// The rest of <see cref="AttemptAsync"/> for an idle connection of the direct pool due for a check
    /// (<see cref="IdleConnectionCheck"/>). A connection that fails it is closed and counted down there, and the attempt
    /// fails as an attempt on an unavailable server, whatever the check's error (<see cref="IdleConnectionFailedException"/>):
    /// the server is marked down, its idle connections closed, and the open goes on to the next server, as Npgsql's
    /// multi-host check passes over to the next host. A server going away ends its connections one after another: a new
    /// connection there could be ended next.
    /// </summary>
    async ValueTask<NpgsqlConnection> CheckAttemptAsync(
        OpenTicket ticket, bool isProbe, NpgsqlConnection connection, NpgsqlDataSource direct, CancellationToken attemptToken,
        CancellationToken callerToken, CancellationTokenSource? budgetTimer)
    {
        var endpoint = ticket.Server;
        var startedAt = endpoint.TimingStart();
        try
        {
            await IdleConnectionCheck.RunAsync(connection, _settings.TimeoutSeconds, attemptToken).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // Judged as an attempt that failed (the connection is closed and counted down already).
            var failure = CheckFailedOnTime(e, budgetTimer, attemptToken, callerToken) ? e : new IdleConnectionFailedException(e);
            return await EndAttemptAsync(
                ticket, isProbe, connection: null, direct, check: false, Task.FromException(failure), startedAt, attemptToken, callerToken, budgetTimer)
                .ConfigureAwait(false);
        }

        endpoint.NoteDirectChecked();
        ticket.Release();
        endpoint.NoteOpenedHere();
        endpoint.NoteDirectOpened(direct);
        DriverMetrics.Opened(_name, endpoint);
        return connection;
    }

    /// <summary><see cref="CheckAttemptAsync"/> for a synchronous open: the connection, checked; throws as an attempt on an unavailable server would.</summary>
    void CheckSync(NpgsqlConnection connection, ServerEndpoint endpoint, CancellationToken callerToken, CancellationTokenSource? budgetTimer, CancellationToken attemptToken)
    {
        try
        {
            IdleConnectionCheck.Run(connection, _settings.TimeoutSeconds);
        }
        catch (Exception e) when (!CheckFailedOnTime(e, budgetTimer, attemptToken, callerToken))
        {
            throw new IdleConnectionFailedException(e);
        }

        endpoint.NoteDirectChecked();
    }

    /// <summary>The rest of <see cref="AttemptAsync"/> for an open that did not succeed at once: it waits, and judges a failure.</summary>
    /// <remarks>
    /// <paramref name="direct"/> is the direct pool the connection came from, if any; <paramref name="check"/> says whether
    /// the connection is counted by <see cref="ServerEndpoint.OnStateChangeBeforeCheck"/> (a check was due, but the open made
    /// a new connection, which needs none): its open is then a sign of life once it succeeded.
    /// </remarks>
    async ValueTask<NpgsqlConnection> EndAttemptAsync(
        OpenTicket ticket, bool isProbe, NpgsqlConnection? connection, NpgsqlDataSource? direct, bool check, Task open, long startedAt,
        CancellationToken attemptToken, CancellationToken callerToken, CancellationTokenSource? budgetTimer)
    {
        var endpoint = ticket.Server;
        try
        {
            await open.ConfigureAwait(false);
        }
        catch (Exception e)
        {
            ticket.Release();
            endpoint.NoteNpgsqlFailure();
            if (connection is not null)
            {
                connection.StateChange -= check ? endpoint.OnStateChangeBeforeCheck : endpoint.OnStateChange;
                await connection.DisposeAsync().ConfigureAwait(false);
            }

            if (OpenBudget.RanOut(budgetTimer, attemptToken, callerToken))
            {
                // The open's time is up: the server had less than a Timeout to answer, which says nothing of its health.
                throw HedgedOpen.RanOut(endpoint, e);
            }

            if (FailureClassifier.IsServerUnavailable(e, callerToken))
            {
                // An attempt that timed out took at least this long: as telling of the server's speed as an open that succeeded.
                if (FailureClassifier.IsSlowAnswer(e))
                    endpoint.NoteWaitedOpen(startedAt);
                _health.Unreachable(endpoint, e);
            }
            else if (isProbe)
            {
                // The server answered (a wrong password, say): it is up, and the error is the application's to see.
                _health.MarkUp(endpoint);
            }

            throw;
        }

        ticket.Release();
        // How long this server takes to answer lately decides whether it is worth a hedge (HedgedOpen). Timed on the server
        // the open chose: Npgsql may have reached one of its next hosts instead, after passing it over.
        endpoint.NoteWaitedOpen(startedAt);
        if (direct is not null)
        {
            if (check)
                endpoint.NoteOpenedHere();
            endpoint.NoteDirectOpened(direct);
        }

        DriverMetrics.Opened(_name, endpoint);
        return connection!;
    }

    public ValueTask DisposeAsync() => _topology.DisposeAsync();
}
