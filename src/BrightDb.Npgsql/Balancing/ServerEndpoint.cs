using System.Data;
using BrightDb.Npgsql.ConnectionStrings;
using BrightDb.Npgsql.Pooling;
using Npgsql;

namespace BrightDb.Npgsql.Balancing;

/// <summary>
/// One server's live state, owned by one data source and kept across topology snapshots: the connections open on it
/// from this data source, the opens in progress that chose it, whether it is marked down, and its Npgsql data source.
/// Snapshots come and go; counters must not.
/// Decision owned (docs/architecture.md): count.
/// </summary>
/// <remarks>
/// <para>
/// The server's Npgsql data source is an <see cref="NpgsqlMultiHostDataSource"/> whose host list starts with this server
/// and goes on with a few of the next best ones (<see cref="BrightDbSettings.ForServer(HostAndPort, IReadOnlyList{HostAndPort})"/>). Whoever opens a connection
/// created from it, <c>OpenConnectionAsync</c>, EF Core, Dapper or a DI container, gets Npgsql's own failover inside that
/// one <c>Open</c>: a server that refuses, or whose idle connection fails Npgsql's check, is passed over for the next.
/// </para>
/// <para>
/// The driver's own opens (<c>OpenConnectionAsync</c>), which fail over by themselves, use the server's <em>direct</em>
/// pool instead while no connection or command was created from the data source for others to open: a single-host Npgsql
/// data source, whose open hands out an idle connection without the multi-host data source's search of its hosts
/// (<see cref="DirectForOpen"/>). Both kinds of pool have the same name, so the host map and Npgsql's metrics add them up.
/// </para>
/// <para>
/// Counting: a connection is counted on the server it <em>reached</em> (<see cref="NpgsqlConnection.Host"/> after the
/// open), by the <c>StateChange</c> handler, once on open and once on close or break. One that
/// reached another server than the one it was created for is a <em>stray</em>: it is counted there, remembered until it
/// closes, and tells that its own server was passed over.
/// </para>
/// </remarks>
sealed class ServerEndpoint
{
    /// <summary>One open connection in <see cref="_counts"/>: they are counted in the upper 32 bits, reservations in the lower.</summary>
    const long OneOpen = 1L << 32;

    readonly Func<ServerEndpoint, NpgsqlMultiHostDataSource> _dataSourceFactory;
    readonly Lock _dataSourceLock = new();
    readonly IStrayConnections? _strays;
    readonly Func<ServerEndpoint, NpgsqlDataSource>? _controlFactory;
    readonly Func<ServerEndpoint, NpgsqlDataSource>? _directFactory;
    /// <summary>How long a passed check of an idle connection of the direct pool vouches for the others, on <see cref="_clock"/>.</summary>
    readonly long _directCheckUnits;
    /// <summary>The clock of the signs of life, read on every open.</summary>
    readonly CoarseClock _clock;
    NpgsqlMultiHostDataSource? _pools;
    NpgsqlDataSource? _connections;
    NpgsqlDataSource? _control;
    NpgsqlDataSource? _direct;
    /// <summary>Direct pools replaced (<see cref="RenewPools"/>) or given up (<see cref="RetireDirect"/>): cleared, kept until the data source is disposed.</summary>
    NpgsqlDataSource[] _retiredDirect = [];

    /// <summary>
    /// When a connection of the direct pool last passed <see cref="Pooling.IdleConnectionCheck"/>, on <see cref="_clock"/>;
    /// 0 when the next one handed out must be checked (never checked, or a connection broke or an open failed since).
    /// </summary>
    long _directCheckedAt;

    /// <summary>
    /// Until when, on <see cref="_clock"/>, every connection the direct pool hands out is checked: <c>Host Recheck Seconds</c>
    /// after a connection broke or an open failed here. A server going away ends its connections one after another, and a
    /// check that passes on one not ended yet says nothing of the others.
    /// </summary>
    long _checkEveryOpenUntil;
    /// <summary>Pools replaced by <see cref="RenewPools"/>: cleared, kept until the data source is disposed (connections created from them may still open).</summary>
    NpgsqlMultiHostDataSource[] _retired = [];

    /// <summary>
    /// Connections open on this server (upper 32 bits) and opens in progress that chose it (lower 32 bits), in one word so
    /// that choosing a server and counting it is one compare-and-swap. Changed only with <see cref="Interlocked"/>.
    /// </summary>
    long _counts;

    /// <summary>Connections created from this server's data source that are open on another server (strays).</summary>
    int _straysOut;

    /// <summary>Connections created from another server's data source that are open on this server.</summary>
    int _straysIn;

    /// <summary>0 while the server is up; otherwise the <see cref="TimeProvider"/> timestamp until which it is skipped.</summary>
    long _downUntil;

    /// <summary>Connections of others on this server at the last report (<see cref="ClusterWideLoad"/>); 0 when the cluster reports none.</summary>
    int _others;

    /// <param name="address">Where the driver connects.</param>
    /// <param name="dataSourceFactory">Makes this server's Npgsql data source (this server first, then its fallbacks).</param>
    /// <param name="connectLimit">Opens allowed in progress at once.</param>
    /// <param name="strays">Resolves and reports connections that reached another server; <see langword="null"/> in unit tests.</param>
    /// <param name="controlFactory">Makes the unpooled data source of the driver's own queries (<c>yb_servers()</c>) on this server.</param>
    /// <param name="time">The clock of the signs of life; the system clock when <see langword="null"/>.</param>
    /// <param name="directFactory">Makes the server's direct pool (this server only), for the driver's own opens.</param>
    /// <param name="directCheckInterval">How long a passed check of a direct pool's idle connection vouches for the others (<c>Host Recheck Seconds</c>).</param>
    internal ServerEndpoint(
        HostAndPort address, Func<ServerEndpoint, NpgsqlMultiHostDataSource> dataSourceFactory, int connectLimit = ConnectGate.DefaultLimit,
        IStrayConnections? strays = null, Func<ServerEndpoint, NpgsqlDataSource>? controlFactory = null, TimeProvider? time = null,
        Func<ServerEndpoint, NpgsqlDataSource>? directFactory = null, TimeSpan directCheckInterval = default)
    {
        _clock = new CoarseClock(time ?? TimeProvider.System);
        _controlFactory = controlFactory;
        _directFactory = directFactory;
        _directCheckUnits = _clock.Units(directCheckInterval);
        Address = address;
        _hostSeen = address.Host;
        Gate = new ConnectGate(connectLimit);
        HostMapKey = address.Host;
        _dataSourceFactory = dataSourceFactory;
        _strays = strays;
        OnStateChange = HandleStateChange;
        OnStateChangeBeforeCheck = (sender, e) => HandleStateChange(sender, e, signOfLife: false);
    }

    /// <summary>Where this driver connects.</summary>
    internal HostAndPort Address { get; }

    /// <summary>Limits the opens in progress on this server (in effect, new physical connections) to a few at a time.</summary>
    internal ConnectGate Gate { get; }

    /// <summary>The server as the last snapshot described it; <see langword="null"/> for a listed host the cluster did not report.</summary>
    internal ServerInfo? Info { get; set; }

    /// <summary>The servers after this one in its data source's host list, fixed when the data source is made.</summary>
    internal IReadOnlyList<HostAndPort> Fallbacks { get; set; } = [];

    /// <summary>The key of this server in the host → connection-count map.</summary>
    internal string HostMapKey { get; set; }

    /// <summary>Set when the server left the cluster: never chosen again, drained as its connections close.</summary>
    internal bool Removed { get => Volatile.Read(ref _removed); set => Volatile.Write(ref _removed, value); }
    bool _removed;

    /// <summary>Why the last attempt on this server failed, for error messages.</summary>
    internal string? LastFailure { get; private set; }

    /// <summary>Counts a connection's opens and closes (including a break); one delegate per server, so subscribing allocates nothing.</summary>
    internal StateChangeEventHandler OnStateChange { get; }

    /// <summary>
    /// <see cref="OnStateChange"/> for a connection of the direct pool that is checked before it is handed out: counted
    /// alike, but its open is no sign of life until the check passed (<see cref="NoteOpenedHere"/>); a dead idle connection
    /// must not mark a server up.
    /// </summary>
    internal StateChangeEventHandler OnStateChangeBeforeCheck { get; }

    /// <summary>Creates connections (closed) from this server's data source, created on first use.</summary>
    internal NpgsqlDataSource DataSource => Volatile.Read(ref _connections) ?? CreateDataSource();

    /// <summary>
    /// <see cref="DataSource"/>, to open a connection of this server now (every way of opening goes through here). Npgsql
    /// hands out an idle connection unchecked while the server's last state check is younger than <c>Host Recheck
    /// Seconds</c>; that is safe while the server's <see cref="Watch"/> is connected, which closes the idle connections of a
    /// server that ends them. Until it is (a server just used or just lost, or one that does not take the watch), Npgsql's
    /// record of the server's state is cleared, so that it checks the idle connection it hands out; likewise after an open
    /// through this data source failed or passed over a host (<see cref="NoteNpgsqlFailure"/>). Two volatile reads per
    /// open otherwise.
    /// </summary>
    internal NpgsqlDataSource DataSourceForOpen()
    {
        if (Volatile.Read(ref _npgsqlMayMarkOffline) != 0 || Watch is { Watching: false })
        {
            Volatile.Write(ref _npgsqlMayMarkOffline, 0);
            PoolsIfCreated?.ClearDatabaseStates();
        }

        return DataSource;
    }

    /// <summary>
    /// 1 once an open through this server's data source failed or passed over a host since the last open cleared Npgsql's
    /// record of its hosts' states. Npgsql then records the host offline for <c>Host Recheck Seconds</c> and would pass
    /// over it without trying it; whether a server is skipped is <see cref="ServerHealth"/>'s decision alone, so the next
    /// open clears that record (<see cref="DataSourceForOpen"/>).
    /// </summary>
    int _npgsqlMayMarkOffline;

    /// <summary>
    /// Records that Npgsql may have marked a host of this server's data source offline (<see cref="_npgsqlMayMarkOffline"/>),
    /// and that the direct pool's next connection handed out is to be checked: an open here failed or passed over a host.
    /// </summary>
    internal void NoteNpgsqlFailure()
    {
        Volatile.Write(ref _npgsqlMayMarkOffline, 1);
        NoteDirectSuspect();
    }

    /// <summary>Until when every connection of the direct pool is checked (<see cref="_checkEveryOpenUntil"/>).</summary>
    internal long CheckEveryOpenUntil => Volatile.Read(ref _checkEveryOpenUntil);

    /// <summary>A connection broke or an open failed here: the direct pool checks every connection it hands out for <c>Host Recheck Seconds</c>.</summary>
    void NoteDirectSuspect()
    {
        Volatile.Write(ref _directCheckedAt, 0);
        Volatile.Write(ref _checkEveryOpenUntil, _clock.Now() + _directCheckUnits);
    }

    /// <summary>
    /// The server's direct pool (created on first use), for an open through the driver, and whether the connection it hands
    /// out is to be checked first (<paramref name="check"/>; <see cref="Pooling.IdleConnectionCheck"/>). The rule is Npgsql's
    /// for its multi-host data source (<see cref="DataSourceForOpen"/>), applied by the driver: a connection is checked while
    /// the server's <see cref="Watch"/> is not connected, for <c>Host Recheck Seconds</c> after a connection broke or an open
    /// failed here, and otherwise once per <c>Host Recheck Seconds</c>; in between, the watch closes the idle connections of a server that ends them. A clock
    /// read and two volatile reads per open. <see langword="null"/> once the direct pool was given up (<see cref="RetireDirect"/>).
    /// </summary>
    internal NpgsqlDataSource? DirectForOpen(out bool check)
    {
        check = IdleConnectionCheck.IsDue(
            Watch is { Watching: true }, _clock.Now(), Volatile.Read(ref _directCheckedAt), Volatile.Read(ref _checkEveryOpenUntil), _directCheckUnits);
        return Volatile.Read(ref _direct) ?? CreateDirect();
    }

    /// <summary>A connection of the direct pool passed its check: the others are trusted for <c>Host Recheck Seconds</c>.</summary>
    internal void NoteDirectChecked() => Volatile.Write(ref _directCheckedAt, Math.Max(1, _clock.Now()));

    /// <summary>The server's direct pool if it exists, without creating it.</summary>
    internal NpgsqlDataSource? DirectIfCreated => Volatile.Read(ref _direct);

    /// <summary>Whether any pool of this server was created (the host map reads their connections).</summary>
    internal bool HasPools => PoolsIfCreated is not null || DirectIfCreated is not null || Volatile.Read(ref _retiredDirect).Length > 0;

    NpgsqlDataSource? CreateDirect()
    {
        lock (_dataSourceLock)
        {
            return _directGivenUp ? null : _direct ??= (_directFactory ?? throw new InvalidOperationException("No direct pool.")).Invoke(this);
        }
    }

    /// <summary>Set by <see cref="RetireDirect"/>, under <see cref="_dataSourceLock"/>: no direct pool is made again.</summary>
    bool _directGivenUp;

    /// <summary>
    /// Gives up the direct pool, once connections of this data source are also created for others to open: the server's
    /// connections then live in one pool again, its multi-host one, and <c>Max Pool Size</c> bounds them as one. Idle
    /// connections of the direct pool are closed now, those in use when returned. Not on the open path.
    /// </summary>
    internal void RetireDirect()
    {
        NpgsqlDataSource? old;
        lock (_dataSourceLock)
        {
            _directGivenUp = true;
            old = RetireDirectLocked();
        }

        old?.Clear();
    }

    /// <summary>
    /// Moves the direct pool, if any, among the replaced ones (kept until the data source is disposed: a connection opened
    /// from it may still be returned to it) and returns it, for the caller to clear outside the lock. Under <see cref="_dataSourceLock"/>.
    /// </summary>
    NpgsqlDataSource? RetireDirectLocked()
    {
        var old = _direct;
        if (old is not null)
        {
            _direct = null;
            _retiredDirect = [.. _retiredDirect, old];
        }

        return old;
    }

    /// <summary>The driver's own connections to this server (unpooled, this server only), created on first use.</summary>
    internal NpgsqlDataSource ControlDataSource
    {
        get
        {
            if (Volatile.Read(ref _control) is { } control)
                return control;
            lock (_dataSourceLock)
            {
                return _control ??= (_controlFactory ?? throw new InvalidOperationException("No control data source.")).Invoke(this);
            }
        }
    }

    /// <summary>The driver's own data source for this server if it exists, without creating it.</summary>
    internal NpgsqlDataSource? ControlIfCreated => Volatile.Read(ref _control);

    /// <summary>The server's pools if they exist, without creating them.</summary>
    internal NpgsqlMultiHostDataSource? PoolsIfCreated => Volatile.Read(ref _pools);

    /// <summary>How many times the pools were renewed (<see cref="RenewPools"/>): each generation's pools have a name of their own.</summary>
    internal int PoolGeneration => Volatile.Read(ref _poolGeneration);
    int _poolGeneration;

    /// <summary>
    /// Replaces the server's pools, if they exist, by new ones: their connections load the database's types afresh
    /// (Npgsql loads them once per data source, and its multi-host data source cannot reload them in the pools of its hosts).
    /// The old pools are cleared (idle connections closed now, busy ones when returned) and kept until the data source is
    /// disposed, because a connection created from them before may still be opened. Not on the open path.
    /// </summary>
    internal void RenewPools()
    {
        NpgsqlMultiHostDataSource? old;
        NpgsqlDataSource? oldDirect;
        lock (_dataSourceLock)
        {
            old = _pools;
            if (old is null && _direct is null)
                return;
            _poolGeneration++;
            if (old is not null)
            {
                var pools = _dataSourceFactory(this);
                _pools = pools;
                Volatile.Write(ref _connections, pools.WithTargetSession(TargetSessionAttributes.Any));
                _retired = [.. _retired, old];
            }

            // The next open through the driver makes a new direct pool, named after the new generation.
            oldDirect = RetireDirectLocked();
        }

        old?.Clear();
        oldDirect?.Clear();
    }

    NpgsqlDataSource CreateDataSource()
    {
        lock (_dataSourceLock)
        {
            if (_connections is null)
            {
                var pools = _dataSourceFactory(this);
                _pools = pools;
                // Any server type: the balancer chooses servers by type itself (Load Balance Hosts=only-primary, …).
                Volatile.Write(ref _connections, pools.WithTargetSession(TargetSessionAttributes.Any));
            }

            return _connections;
        }
    }

    /// <summary>
    /// The load the balancer compares: connections open here plus opens in progress that chose this server (an open
    /// abandoned by a hedge and still waiting on a hung server included).
    /// </summary>
    internal int InUse
    {
        get => Load(Volatile.Read(ref _counts));
        // For unit tests: a server with this many open connections and nothing in progress.
        set => Volatile.Write(ref _counts, value * OneOpen);
    }

    /// <summary>
    /// Connections on this server that are not this data source's, as the last <c>yb_servers()</c> reported them
    /// (<see cref="ClusterWideLoad"/>): added to <see cref="InUse"/> by the selector. 0 when the cluster reports no counts.
    /// </summary>
    internal int Others { get => Volatile.Read(ref _others); set => Volatile.Write(ref _others, value); }

    /// <summary>Connections from this data source open on this server (what the host map shows unpooled).</summary>
    internal int OpenConnections => (int)(Volatile.Read(ref _counts) >> 32);

    /// <summary>Connections created for this server that reached another one, and those created for another that reached this one.</summary>
    internal (int Out, int In) Strays => (Volatile.Read(ref _straysOut), Volatile.Read(ref _straysIn));

    internal long CountsSnapshot => Volatile.Read(ref _counts);

    internal static int Load(long counts) => (int)(counts >> 32) + (int)counts;

    void HandleStateChange(object? sender, StateChangeEventArgs e) => HandleStateChange(sender, e, signOfLife: true);

    void HandleStateChange(object? sender, StateChangeEventArgs e, bool signOfLife)
    {
        if (e.CurrentState == ConnectionState.Open && e.OriginalState != ConnectionState.Open)
        {
            var reached = this;
            if (sender is NpgsqlConnection connection && _strays is not null && !IsAddressOf(connection))
            {
                NoteNpgsqlFailure();
                reached = _strays.Opened(this, connection);
            }

            Interlocked.Add(ref reached._counts, OneOpen);
            if (signOfLife)
                reached.NoteOpenedHere();
        }
        else if (e.OriginalState == ConnectionState.Open && e.CurrentState != ConnectionState.Open)
        {
            var reached = this;
            if (Volatile.Read(ref _straysOut) != 0 && sender is NpgsqlConnection connection && _strays is not null)
                reached = _strays.Closed(this, connection) ?? this;
            Interlocked.Add(ref reached._counts, -OneOpen);
            // A connection that broke made Npgsql mark its host offline for Host Recheck Seconds, so that this server's data
            // source would pass over it to the next host: one broken connection (a backend ended alone, a query cancelled by a
            // timeout) is no sign of a failed server, and whether a server is skipped is the driver's decision alone
            // (ServerHealth, on evidence of the server itself). Not on the path of a normal close.
            if (sender is NpgsqlConnection { FullState: ConnectionState.Broken })
            {
                PoolsIfCreated?.ClearDatabaseStates();
                // Likewise the direct pool's next connection handed out is checked, as Npgsql's would be.
                NoteDirectSuspect();
            }

            // Npgsql returned the connection to this server's pool before raising the event. A server that left the
            // cluster keeps nothing idle: a connection opened on it after it left (an open that chose it from the previous
            // snapshot) would otherwise rest in the pool, dead once the server stops, until the idle lifetime closes it.
            if (Removed)
            {
                ClearPool();
            }

            // Likewise a connection created before ReloadTypes replaced the pools, opened and returned after: it would idle in
            // the replaced pools, with the old types, until the idle lifetime; and one that an open took from a direct pool
            // while it was given up or replaced (NoteDirectOpened). Only once pools were replaced (a few atomic operations
            // per close from then on).
            else
            {
                var retired = Volatile.Read(ref _retired);
                foreach (var pools in retired)
                    pools.Clear();
                if (retired.Length > 0 || Volatile.Read(ref _clearRetiredDirectOnClose))
                {
                    foreach (var direct in Volatile.Read(ref _retiredDirect))
                        direct.Clear();
                }
            }
        }
    }

    /// <summary>
    /// A connection opened on this server: a sign of life, which starts the server's watch and marks the server up if it was
    /// down (a probe, or a server suspected of hanging that answered after all).
    /// </summary>
    internal void NoteOpenedHere()
    {
        NoteAnswer();
        Watch?.EnsureRunning();
        if (DownUntil != 0)
            _strays?.Answered(this);
    }

    /// <summary>
    /// Notes that an open through <paramref name="direct"/> ended after that direct pool was given up or replaced (a race
    /// with <see cref="RetireDirect"/> or <see cref="RenewPools"/>): its connection may have been made after the pool was
    /// cleared, and would then rest idle in a pool nobody opens from; from now on every close clears the replaced direct
    /// pools. One volatile read per open through a direct pool.
    /// </summary>
    internal void NoteDirectOpened(NpgsqlDataSource direct)
    {
        if (!ReferenceEquals(Volatile.Read(ref _direct), direct))
            Volatile.Write(ref _clearRetiredDirectOnClose, true);
    }

    /// <summary>Set by <see cref="NoteDirectOpened"/>: closes clear the replaced direct pools too.</summary>
    bool _clearRetiredDirectOnClose;

    /// <summary>
    /// Whether the connection's server is this one (compared without allocating). Npgsql gives every connection of a pool
    /// the same host string, so after the first connection of a pool the comparison is one of references; only a string
    /// not seen last is compared character by character (a case-insensitive comparison cost about 14 ns per open).
    /// </summary>
    bool IsAddressOf(NpgsqlConnection connection)
    {
        if (connection.Port != Address.Port)
            return false;
        var host = connection.Host;
        if (ReferenceEquals(host, Volatile.Read(ref _hostSeen)))
            return true;
        if (host is null || !string.Equals(host, Address.Host, StringComparison.OrdinalIgnoreCase))
            return false;
        Volatile.Write(ref _hostSeen, host);
        return true;
    }

    /// <summary>The host string of the last connection found to be to this server (never <see langword="null"/>).</summary>
    string _hostSeen;

    /// <summary>Records a stray leaving this server's data source (<paramref name="leaving"/>) for <paramref name="arriving"/>, or its return.</summary>
    internal static void MoveStray(ServerEndpoint leaving, ServerEndpoint arriving, int delta)
    {
        Interlocked.Add(ref leaving._straysOut, delta);
        Interlocked.Add(ref arriving._straysIn, delta);
    }

    /// <summary>Counts one open in progress here if the counts are still <paramref name="observed"/>: choosing and counting are one atomic step.</summary>
    internal bool TryReserve(long observed) => Interlocked.CompareExchange(ref _counts, observed + 1, observed) == observed;

    /// <summary>Counts one open in progress here unconditionally.</summary>
    internal void Reserve() => Interlocked.Increment(ref _counts);

    /// <summary>Ends one open in progress (it opened, and the connection is counted as open, or it failed).</summary>
    internal void Release() => Interlocked.Decrement(ref _counts);

    internal long DownUntil => Volatile.Read(ref _downUntil);

    /// <summary>When an open on this server last succeeded (a sign of life), on <see cref="CoarseClock"/>; 0 for never.</summary>
    internal long LastAnswer => Volatile.Read(ref _lastAnswer);
    long _lastAnswer;

    /// <summary>Records a sign of life; written at most once a millisecond, so busy servers do not bounce the cache line.</summary>
    internal void NoteAnswer()
    {
        var now = _clock.Now();
        if (now - Volatile.Read(ref _lastAnswer) >= _clock.Millisecond)
            Volatile.Write(ref _lastAnswer, now);
    }

    /// <summary>Whether the server gave a sign of life within the last <paramref name="window"/>.</summary>
    internal bool AnsweredWithin(TimeSpan window) =>
        LastAnswer is var last && last != 0 && _clock.Now() - last < _clock.Units(window);

    /// <summary>
    /// How long the driver's opens that had to wait for this server took lately (until they succeeded or timed out), on
    /// <see cref="CoarseClock"/>: a moving average weighting the newest a quarter, starting from 0, so that a server is
    /// presumed quick until a few opens say otherwise (the first open of a process, slow on the client's side, does not
    /// make a server slow).
    /// </summary>
    long _waitedOpenTime;

    /// <summary>When <see cref="_waitedOpenTime"/> was last updated, on <see cref="CoarseClock"/>; 0 for never.</summary>
    long _waitedOpenAt;

    /// <summary>Now on this server's clock: where an open that has to wait starts timing itself (<see cref="NoteWaitedOpen"/>).</summary>
    internal long TimingStart() => _clock.Now();

    /// <summary>
    /// Records how long an open that had to wait (a new physical connection, in effect) took to succeed, or to time out,
    /// here, from <paramref name="startedAt"/> (<see cref="TimingStart"/>). Written without a lock: two opens ending at the
    /// same moment may lose one measurement, which an average of the last few can spare. Never on the path of an idle
    /// connection.
    /// </summary>
    internal void NoteWaitedOpen(long startedAt)
    {
        var now = _clock.Now();
        var average = Volatile.Read(ref _waitedOpenTime);
        Volatile.Write(ref _waitedOpenTime, average + (Math.Max(0, now - startedAt) - average) / 4);
        Volatile.Write(ref _waitedOpenAt, Math.Max(1, now));
    }

    /// <summary>
    /// Whether new connections here lately took <paramref name="threshold"/> or longer, on average, by measurements of the
    /// last <paramref name="memory"/> (older ones say nothing of now). False while nothing was measured.
    /// </summary>
    internal bool OpensSlowerThan(TimeSpan threshold, TimeSpan memory) =>
        Volatile.Read(ref _waitedOpenAt) is var at && at != 0
        && _clock.Now() - at < _clock.Units(memory)
        && Volatile.Read(ref _waitedOpenTime) >= _clock.Units(threshold);

    /// <summary>Usable now: up, or down with its delay over (then one open may probe it).</summary>
    internal bool IsSelectable(long now) => !Removed && (DownUntil is var d && (d == 0 || d <= now));

    /// <summary>
    /// Claims the one probe of a server whose delay is over, by pushing its delay forward: concurrent opens then skip
    /// it until the probe ends, so a recovering server gets one attempt, not a burst.
    /// </summary>
    internal bool TryClaimProbe(long observedDownUntil, long retryAt) =>
        observedDownUntil != 0 && Interlocked.CompareExchange(ref _downUntil, retryAt, observedDownUntil) == observedDownUntil;

    /// <summary>
    /// True while the server's down mark only comes from a slow answer (a hedged open gave up waiting, an attempt timed out)
    /// or from a pass-over whose cause is not known yet, not from an error: such a server may be busy rather than broken,
    /// and is still tried when no other server is usable.
    /// </summary>
    internal bool OnlySuspected { get => Volatile.Read(ref _onlySuspected); private set => Volatile.Write(ref _onlySuspected, value); }
    bool _onlySuspected;

    /// <summary>Marks the server down until <paramref name="until"/>; true when it was up before.</summary>
    internal bool MarkDown(long until, string reason, bool suspicion = false)
    {
        var wasUp = Interlocked.Exchange(ref _downUntil, until) == 0;
        // An error outweighs a suspicion; a new suspicion does not clear an error, nor replace its reason in error messages.
        var keepsError = suspicion && !wasUp && !OnlySuspected;
        OnlySuspected = suspicion && (wasUp || OnlySuspected);
        if (!keepsError)
            LastFailure = reason;
        return wasUp;
    }

    /// <summary>Records why the server failed, learned after it was marked down; kept only while it is still down.</summary>
    internal void NoteFailureCause(string reason)
    {
        if (Volatile.Read(ref _downUntil) != 0)
            LastFailure = reason;
    }

    /// <summary>When the server was last marked up after being down (<see cref="TimeProvider.GetTimestamp"/>); 0 for never.</summary>
    internal long MarkedUpAt { get => Volatile.Read(ref _markedUpAt); set => Volatile.Write(ref _markedUpAt, value); }
    long _markedUpAt;

    /// <summary>Marks the server up; true when it was down before.</summary>
    internal bool MarkUp()
    {
        if (Volatile.Read(ref _downUntil) == 0)
            return false;
        LastFailure = null;
        OnlySuspected = false;
        return Interlocked.Exchange(ref _downUntil, 0) != 0;
    }

    /// <summary>Notices between opens that the server lost the pool's idle connections; <see langword="null"/> unpooled or with <c>Host Recheck Seconds=0</c> (<see cref="BrightDbSettings.WatchServers"/>).</summary>
    internal ServerWatch? Watch { get; set; }

    /// <summary>Closes idle pooled connections now and busy ones when they are returned.</summary>
    internal void ClearPool()
    {
        PoolsIfCreated?.Clear();
        DirectIfCreated?.Clear();
        foreach (var retired in Volatile.Read(ref _retired))
            retired.Clear();
        foreach (var retired in Volatile.Read(ref _retiredDirect))
            retired.Clear();
    }

    internal async ValueTask DisposeAsync()
    {
        if (Watch is { } watch)
            await watch.DisposeAsync().ConfigureAwait(false);
        NpgsqlDataSource? pools, direct, control;
        NpgsqlDataSource[] retired;
        lock (_dataSourceLock)
        {
            (pools, direct, control, retired) = (_pools, _direct, _control, [.. _retired, .. _retiredDirect]);
        }

        if (pools is not null)
            await pools.DisposeAsync().ConfigureAwait(false);
        if (direct is not null)
            await direct.DisposeAsync().ConfigureAwait(false);
        foreach (var old in retired)
            await old.DisposeAsync().ConfigureAwait(false);
        if (control is not null)
            await control.DisposeAsync().ConfigureAwait(false);
    }

    public override string ToString() => Address.ToString();
}

/// <summary>Tracks connections that reached another server than the one whose data source created them.</summary>
interface IStrayConnections
{
    /// <summary>
    /// A connection created from <paramref name="owner"/>'s data source opened on another server: returns that server's
    /// endpoint (to count it there), remembers the connection until it closes, and reports that the owner was passed over.
    /// </summary>
    ServerEndpoint Opened(ServerEndpoint owner, NpgsqlConnection connection);

    /// <summary>A connection of <paramref name="owner"/>'s data source closed: the server it was counted on if it was a stray.</summary>
    ServerEndpoint? Closed(ServerEndpoint owner, NpgsqlConnection connection);

    /// <summary>A server marked down answered an open: it is up.</summary>
    void Answered(ServerEndpoint server);
}
