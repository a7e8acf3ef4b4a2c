using System.Data;
using BrightDb.Npgsql.ConnectionStrings;
using Npgsql;

namespace BrightDb.Npgsql.Balancing;

/// <summary>
/// One server's live state, owned by one data source and kept across topology snapshots: the connections open on it
/// from this data source, whether it is marked down, and its Npgsql pool. Snapshots come and go; counters must not.
/// </summary>
internal sealed class ServerEndpoint
{
    readonly Func<ServerEndpoint, NpgsqlDataSource> _dataSourceFactory;
    readonly Lock _dataSourceLock = new();
    NpgsqlDataSource? _dataSource;

    /// <summary>Connections from this data source that are open (or being opened) on this server. Changed only with <see cref="Interlocked"/>.</summary>
    internal int InUse;

    /// <summary>0 while the server is up; otherwise the <see cref="TimeProvider"/> timestamp until which it is skipped.</summary>
    long _downUntil;

    /// <param name="address">Where the driver connects.</param>
    /// <param name="dataSourceFactory">Makes this server's Npgsql data source.</param>
    /// <param name="connectLimit">Opens allowed in progress at once.</param>
    internal ServerEndpoint(HostAndPort address, Func<ServerEndpoint, NpgsqlDataSource> dataSourceFactory, int connectLimit = ConnectGate.DefaultLimit)
    {
        Address = address;
        Gate = new ConnectGate(connectLimit);
        MapKey = address.Host;
        _dataSourceFactory = dataSourceFactory;
        OnStateChange = HandleStateChange;
    }

    /// <summary>Where this driver connects.</summary>
    internal HostAndPort Address { get; }

    /// <summary>Limits the opens in progress on this server (in effect, new physical connections) to a few at a time.</summary>
    internal ConnectGate Gate { get; }

    /// <summary>The server as the last snapshot described it; <see langword="null"/> for a listed host the cluster did not report.</summary>
    internal ServerInfo? Info { get; set; }

    /// <summary>The key of this server in the host → connection-count map.</summary>
    internal string MapKey { get; set; }

    /// <summary>Set when the server left the cluster: never chosen again, drained as its connections close.</summary>
    internal bool Removed { get => Volatile.Read(ref _removed); set => Volatile.Write(ref _removed, value); }
    bool _removed;

    /// <summary>Why the last attempt on this server failed, for error messages.</summary>
    internal string? LastFailure { get; private set; }

    /// <summary>Counts a connection's later opens and closes (including a break); one delegate per server, so subscribing allocates nothing.</summary>
    internal StateChangeEventHandler OnStateChange { get; }

    /// <summary>The Npgsql data source (pool) of this server, created on first use.</summary>
    internal NpgsqlDataSource DataSource => Volatile.Read(ref _dataSource) ?? CreateDataSource();

    /// <summary>The pool if it exists, without creating it.</summary>
    internal NpgsqlDataSource? DataSourceIfCreated => Volatile.Read(ref _dataSource);

    NpgsqlDataSource CreateDataSource()
    {
        lock (_dataSourceLock)
        {
            return _dataSource ??= _dataSourceFactory(this);
        }
    }

    void HandleStateChange(object? sender, StateChangeEventArgs e)
    {
        if (e.CurrentState == ConnectionState.Open && e.OriginalState != ConnectionState.Open)
            Interlocked.Increment(ref InUse);
        else if (e.OriginalState == ConnectionState.Open && e.CurrentState != ConnectionState.Open)
            Interlocked.Decrement(ref InUse);
    }

    /// <summary>Counts one connection here if the count is still <paramref name="observed"/>: choosing and counting are one atomic step.</summary>
    internal bool TryReserve(int observed) => Interlocked.CompareExchange(ref InUse, observed + 1, observed) == observed;

    /// <summary>Undoes one count.</summary>
    internal void Release() => Interlocked.Decrement(ref InUse);

    internal long DownUntil => Volatile.Read(ref _downUntil);

    /// <summary>
    /// When an open on this server last succeeded (a sign of life), in <see cref="Environment.TickCount64"/> milliseconds:
    /// hedging is about real waiting, and this clock costs a few nanoseconds on every open.
    /// </summary>
    internal long LastAnswerMs => Volatile.Read(ref _lastAnswerMs);
    long _lastAnswerMs;

    /// <summary>Records a sign of life; written at most once a millisecond, so busy servers do not bounce the cache line.</summary>
    internal void NoteAnswer()
    {
        var now = Environment.TickCount64;
        if (Volatile.Read(ref _lastAnswerMs) != now)
            Volatile.Write(ref _lastAnswerMs, now);
    }

    /// <summary>Whether the server gave a sign of life within the last <paramref name="window"/>.</summary>
    internal bool AnsweredWithin(TimeSpan window) =>
        LastAnswerMs is var last && last != 0 && Environment.TickCount64 - last < (long)window.TotalMilliseconds;

    /// <summary>Usable now: up, or down with its delay over (then one open may probe it).</summary>
    internal bool IsSelectable(long now) => !Removed && (DownUntil is var d && (d == 0 || d <= now));

    /// <summary>
    /// Claims the one probe of a server whose delay is over, by pushing its delay forward: concurrent opens then skip
    /// it until the probe ends, so a recovering server gets one attempt, not a burst.
    /// </summary>
    internal bool TryClaimProbe(long observedDownUntil, long retryAt) =>
        observedDownUntil != 0 && Interlocked.CompareExchange(ref _downUntil, retryAt, observedDownUntil) == observedDownUntil;

    /// <summary>
    /// True while the server's down mark only comes from a slow answer (a hedged open gave up waiting), not from an error:
    /// such a server may be busy rather than broken, and is still tried when no other server is usable.
    /// </summary>
    internal bool OnlySuspected { get => Volatile.Read(ref _onlySuspected); private set => Volatile.Write(ref _onlySuspected, value); }
    bool _onlySuspected;

    /// <summary>Marks the server down until <paramref name="until"/>; true when it was up before.</summary>
    internal bool MarkDown(long until, string reason, bool suspicion = false)
    {
        var wasUp = Interlocked.Exchange(ref _downUntil, until) == 0;
        // An error outweighs a suspicion; a new suspicion does not clear an error.
        OnlySuspected = suspicion && (wasUp || OnlySuspected);
        LastFailure = reason;
        return wasUp;
    }

    /// <summary>Marks the server up; true when it was down before.</summary>
    internal bool MarkUp()
    {
        if (Volatile.Read(ref _downUntil) == 0)
            return false;
        LastFailure = null;
        OnlySuspected = false;
        return Interlocked.Exchange(ref _downUntil, 0) != 0;
    }

    /// <summary>Closes idle pooled connections now and busy ones when they are returned.</summary>
    internal void ClearPool()
    {
        if (DataSourceIfCreated is NpgsqlDataSource ds)
            ds.Clear();
    }

    internal async ValueTask DisposeAsync()
    {
        NpgsqlDataSource? ds;
        lock (_dataSourceLock)
        {
            ds = _dataSource;
        }

        if (ds is not null)
            await ds.DisposeAsync().ConfigureAwait(false);
    }

    public override string ToString() => Address.ToString();
}
