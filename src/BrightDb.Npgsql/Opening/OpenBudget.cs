using BrightDb.Npgsql.ConnectionStrings;

namespace BrightDb.Npgsql.Opening;

/// <summary>
/// The time one open may take in all: <c>Timeout</c> from its start, whatever number of servers it tries, waits for or
/// hedges. The first attempt, when nothing was waited for before it, is bounded by Npgsql's own <c>Timeout</c> (each host of
/// the server's list has its share); every later attempt is given what is left, through a cancellation token that this
/// budget cancels when the time is up.
/// Decision owned (docs/architecture.md): time (how long one open may take in all).
/// </summary>
/// <remarks>
/// A struct in the frame of the open: an open that succeeds at once never reads the clock or allocates for it. The clock
/// starts when the open first has to wait (for a place at a server, or for a server to answer).
/// </remarks>
struct OpenBudget(BrightDbSettings settings, TimeProvider time)
{
    long _started;
    CancellationTokenSource? _timer;
    CancellationTokenSource? _linked;

    /// <summary>Starts the clock, if it has not started yet.</summary>
    internal void Start()
    {
        if (_started == 0)
            _started = time.GetTimestamp();
    }

    /// <summary>Whether the open has waited for something yet (the clock runs).</summary>
    internal readonly bool Started => _started != 0;

    /// <summary>What is left; <see cref="Timeout.InfiniteTimeSpan"/> when <c>Timeout</c> is 0 (no limit).</summary>
    internal readonly TimeSpan Remaining
    {
        get
        {
            if (!settings.HasConnectTimeout)
                return Timeout.InfiniteTimeSpan;
            var left = settings.ConnectTimeout - (_started == 0 ? TimeSpan.Zero : time.GetElapsedTime(_started));
            return left > TimeSpan.Zero ? left : TimeSpan.Zero;
        }
    }

    /// <summary>Whether the time is up.</summary>
    internal readonly bool Exhausted => _started != 0 && settings.HasConnectTimeout && Remaining == TimeSpan.Zero;

    /// <summary>The timer of the budget, once <see cref="Token"/> made one: what an attempt needs to tell the budget's cancellation from the caller's.</summary>
    internal readonly CancellationTokenSource? Timer => _timer;

    /// <summary>Whether <paramref name="attemptToken"/> was cancelled because the time is up (by <paramref name="timer"/>, not by the caller).</summary>
    internal static bool RanOut(CancellationTokenSource? timer, CancellationToken attemptToken, CancellationToken callerToken) =>
        timer is { IsCancellationRequested: true } && attemptToken.IsCancellationRequested && !callerToken.IsCancellationRequested;

    /// <summary>
    /// A token cancelled when the time is up or the caller cancels: what an attempt after the first is given. Made once
    /// per open, and only by an open that gets that far.
    /// </summary>
    internal CancellationToken Token(CancellationToken callerToken)
    {
        if (!settings.HasConnectTimeout)
            return callerToken;
        if (_linked is null)
        {
            Start();
            _timer = new CancellationTokenSource(Remaining, time);
            _linked = CancellationTokenSource.CreateLinkedTokenSource(_timer.Token, callerToken);
        }

        return _linked.Token;
    }

    /// <summary>Releases the timer, if one was made.</summary>
    internal readonly void Dispose()
    {
        _linked?.Dispose();
        _timer?.Dispose();
    }
}
