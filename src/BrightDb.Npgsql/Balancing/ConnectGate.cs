namespace BrightDb.Npgsql.Balancing;

/// <summary>
/// Limits how many opens may be in progress on one server at once. A pooled open that finds an idle connection enters
/// and leaves within microseconds, so in practice the limit applies to new physical connections: a burst (a new server,
/// a cold start) reaches a server a few connections at a time instead of all at once, as MongoDB's <c>maxConnecting</c>.
/// </summary>
/// <remarks>
/// Entering is one compare-and-swap. Waiting is rare and polls with a short period besides being signalled, so a
/// wake-up lost to a race costs at most one period instead of a hang. The period only wakes the waiter: its timeout is
/// measured on the data source's <see cref="TimeProvider"/>.
/// </remarks>
sealed class ConnectGate(int limit)
{
    static readonly TimeSpan PollPeriod = TimeSpan.FromMilliseconds(50);

    readonly SemaphoreSlim _signal = new(0);
    int _active;
    int _waiters;

    internal const int DefaultLimit = ConnectionStrings.DriverValues.DefaultMaxConnectingPerServer;

    internal int Active => Volatile.Read(ref _active);

    internal bool TryEnter()
    {
        var current = Volatile.Read(ref _active);
        while (current < limit)
        {
            var seen = Interlocked.CompareExchange(ref _active, current + 1, current);
            if (seen == current)
                return true;
            current = seen;
        }

        return false;
    }

    /// <summary>How a wait for a place ended.</summary>
    internal enum WaitResult
    {
        /// <summary>A place was taken.</summary>
        Entered,

        /// <summary><c>giveUp</c> said the wait was pointless.</summary>
        GivenUp,

        /// <summary>No place within the timeout.</summary>
        TimedOut,
    }

    /// <summary>
    /// Waits for a place, up to <paramref name="timeout"/> by <paramref name="time"/>; gives up as soon as
    /// <paramref name="giveUp"/> says the wait is pointless.
    /// </summary>
    internal async ValueTask<WaitResult> WaitAsync(
        TimeSpan timeout, TimeProvider time, Func<bool> giveUp, bool async, CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        Interlocked.Increment(ref _waiters);
        try
        {
            while (!TryEnter())
            {
                if (giveUp())
                    return WaitResult.GivenUp;
                if (time.GetElapsedTime(started) > timeout)
                    return WaitResult.TimedOut;
                if (async)
                    await _signal.WaitAsync(PollPeriod, cancellationToken).ConfigureAwait(false);
                else
                    _signal.Wait(PollPeriod, cancellationToken);
            }

            return WaitResult.Entered;
        }
        finally
        {
            Interlocked.Decrement(ref _waiters);
        }
    }

    internal void Exit()
    {
        Interlocked.Decrement(ref _active);
        if (Volatile.Read(ref _waiters) > 0 && _signal.CurrentCount == 0)
            _signal.Release();
    }
}
