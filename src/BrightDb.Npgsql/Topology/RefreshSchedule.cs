namespace BrightDb.Npgsql.Topology;

/// <summary>
/// Decides when the topology is read again: every <c>YB Servers Refresh Interval</c> on a timer of the data source's
/// <see cref="TimeProvider"/>, soon after a server fails (at most once per <see cref="EarlyRefreshSpacing"/>), and after a
/// failed read when <see cref="RetryDelay"/> is over. With an interval of 0 there is no timer: every open reads.
/// Decision owned (docs/architecture.md): discover, when (the refresh timing).
/// </summary>
sealed class RefreshSchedule
{
    /// <summary>The least time between two refreshes asked for early (after failures), so that a burst of failures is one refresh.</summary>
    internal static readonly TimeSpan EarlyRefreshSpacing = TimeSpan.FromSeconds(1);

    readonly TimeSpan _interval;
    readonly TimeSpan _reconnectDelay;
    readonly TimeProvider _time;
    ITimer? _timer;
    bool _stopped;

    /// <summary>The timestamp from which the snapshot counts as stale.</summary>
    long _dueAt;

    /// <summary>When the last refresh started.</summary>
    long _lastStarted;

    /// <param name="interval"><c>YB Servers Refresh Interval</c>; 0 or less for no timer.</param>
    /// <param name="reconnectDelay"><c>Failed Host Reconnect Delay Secs</c>, the pace of retries after a failed read.</param>
    /// <param name="time">The clock of the timer and of staleness.</param>
    internal RefreshSchedule(TimeSpan interval, TimeSpan reconnectDelay, TimeProvider time)
    {
        _interval = interval;
        _reconnectDelay = reconnectDelay;
        _time = time;
    }

    /// <summary>Whether refreshes run in the background (an interval above 0), so that opens never wait for them.</summary>
    internal bool InBackground => _interval > TimeSpan.Zero;

    /// <summary>Whether the snapshot is stale: an open that sees it starts a refresh in the background.</summary>
    internal bool IsDue => _time.GetTimestamp() >= Volatile.Read(ref _dueAt);

    /// <summary>How long after a failed read the next one is tried: the reconnect delay (1 s if 0), or the interval if shorter.</summary>
    internal TimeSpan RetryDelay
    {
        get
        {
            var retry = _reconnectDelay > TimeSpan.Zero ? _reconnectDelay : TimeSpan.FromSeconds(1);
            return InBackground && _interval < retry ? _interval : retry;
        }
    }

    /// <summary>A refresh starts now.</summary>
    internal void Started() => Volatile.Write(ref _lastStarted, _time.GetTimestamp());

    /// <summary>A new snapshot was installed: it is fresh for one interval.</summary>
    internal void Installed() => DueIn(_interval);

    /// <summary>A read failed, or found only a provisional topology: the next one is due after <see cref="RetryDelay"/>.</summary>
    internal void Failed() => DueIn(RetryDelay);

    void DueIn(TimeSpan span) => Volatile.Write(ref _dueAt, _time.GetTimestamp() + (long)(span.TotalSeconds * _time.TimestampFrequency));

    /// <summary>
    /// Starts the timer (once, after the first discovery) that calls <paramref name="refresh"/> every interval. The timer
    /// holds its target weakly: an application that forgets to dispose its data source does not keep it alive.
    /// </summary>
    internal void StartTimer<T>(T target, Action<T> refresh)
        where T : class
    {
        if (!InBackground || Volatile.Read(ref _timer) is not null || Volatile.Read(ref _stopped))
            return;
        var timer = _time.CreateTimer(
            static state =>
            {
                var (weak, callback) = ((WeakReference<T>, Action<T>))state!;
                if (weak.TryGetTarget(out var owner))
                    callback(owner);
            },
            (new WeakReference<T>(target), refresh), _interval, _interval);
        if (Interlocked.CompareExchange(ref _timer, timer, null) is not null)
            timer.Dispose();
    }

    /// <summary>
    /// Refreshes soon (after a server failed, the cluster may have changed): on the timer, at most once per
    /// <see cref="EarlyRefreshSpacing"/>; with no timer (an interval of 0, or before the first discovery), the next open does.
    /// </summary>
    internal void RequestEarly()
    {
        Volatile.Write(ref _dueAt, 0);
        if (Volatile.Read(ref _timer) is not { } timer || Volatile.Read(ref _stopped))
            return;
        var since = _time.GetElapsedTime(Volatile.Read(ref _lastStarted));
        var due = since >= EarlyRefreshSpacing ? TimeSpan.Zero : EarlyRefreshSpacing - since;
        try
        {
            timer.Change(due, _interval);
        }
        catch (ObjectDisposedException)
        {
            // Stopped meanwhile: nothing to refresh.
        }
    }

    /// <summary>Stops the timer for good.</summary>
    internal async ValueTask StopAsync()
    {
        Volatile.Write(ref _stopped, true);
        if (Interlocked.Exchange(ref _timer, null) is { } timer)
            await timer.DisposeAsync().ConfigureAwait(false);
    }
}
