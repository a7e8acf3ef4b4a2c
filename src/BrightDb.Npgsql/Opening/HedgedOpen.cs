using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using BrightDb.Npgsql.Balancing;
using BrightDb.Npgsql.ConnectionStrings;
using BrightDb.Npgsql.Topology;
using Npgsql;

namespace BrightDb.Npgsql.Opening;

/// <summary>
/// Hedges an asynchronous open whose server looks hung: waits for the attempt round by round (<see cref="LooksHungAsync"/>,
/// judged by <see cref="HungServerPolicy"/>), then races the next best servers against it (<see cref="RaceAsync"/>). The
/// first connection to open wins; the others, if they open later, are closed.
/// Decision owned (docs/architecture.md): hedge (whether a server looks hung is <see cref="HungServerPolicy"/>'s rule).
/// </summary>
sealed class HedgedOpen(BalancedOpener opener, BrightDbSettings settings, TimeProvider time, ServerHealth health, TopologyManager topology)
{
    /// <summary>
    /// Waits for <paramref name="attempt"/> up to the hedge delay, again and again while hedging would not help. True when
    /// <see cref="HungServerPolicy"/> finds the server hung; false when the attempt ended, the caller cancelled or the open's
    /// time (<paramref name="limit"/>, what was left of it at the call) is up.
    /// </summary>
    /// <remarks>
    /// Every physical asynchronous open comes here, so a round costs one timed wait on the attempt itself (Task.WaitAsync:
    /// its timer is released as soon as the attempt ends) and no exception: no linked token, no second timer task, no
    /// WhenAny. The state machine is pooled.
    /// </remarks>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    internal async ValueTask<bool> LooksHungAsync(ServerEndpoint server, Task<NpgsqlConnection> attempt, ClusterState state, TimeSpan limit, CancellationToken cancellationToken)
    {
        var delay = settings.HedgedOpenDelay;
        var limited = limit != Timeout.InfiniteTimeSpan;
        var started = time.GetTimestamp();
        while (true)
        {
            var roundStarted = time.GetTimestamp();
            var wait = delay;
            if (limited)
            {
                var left = limit - time.GetElapsedTime(started);
                if (left <= TimeSpan.Zero)
                    return false;
                if (left < wait)
                    wait = left;
            }

            // Ends with the attempt (whatever its outcome), the caller's cancellation or the wait, without throwing.
            await ((Task)attempt.WaitAsync(wait, time, cancellationToken)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            if (attempt.IsCompleted || cancellationToken.IsCancellationRequested || (limited && time.GetElapsedTime(started) >= limit))
                return false;

            // Another server can take the hedge if it answered lately (sequential opens leave it idle while this one waits,
            // so answers from just before this open count) or has no open in progress (untested, not slow), and opens new
            // connections quickly. One with opens in progress and no answer is as slow as this one.
            var sinceBeforeStart = delay + time.GetElapsedTime(started);
            var round = new HungServerPolicy.Round(
                delay,
                time.GetElapsedTime(roundStarted),
                ServerAnsweredWithinDelay: server.AnsweredWithin(delay),
                ServerOverCapacity: settings.Pooling && server.InUse > settings.MaxPoolSize,
                AnotherServerReady: state.Servers.Any(s => s != server && !s.Removed && s.DownUntil == 0
                                                           && (s.AnsweredWithin(sinceBeforeStart) || s.Gate.Active == 0)
                                                           && OpensQuickly(s)));
            if (HungServerPolicy.Judge(round) == HungServerPolicy.Verdict.Hung)
                return true;
        }
    }

    /// <summary>
    /// The server of <paramref name="firstAttempt"/> looks hung: it is suspected (other opens avoid it) and the next best
    /// server is tried alongside, and after each further hedge delay without an answer, the next one. The caller's
    /// cancellation ends the wait at once, and every hedge is given what is left of the open's <c>Timeout</c>
    /// (<paramref name="attemptToken"/>). Returns <see langword="null"/> when every attempt failed because its server was
    /// unavailable (recorded in <paramref name="failures"/>); an error the application must see is thrown as it is.
    /// </summary>
    internal async Task<NpgsqlConnection?> RaceAsync(
        ServerEndpoint first, Task<NpgsqlConnection> firstAttempt, ClusterState state, OpenFailures failures, OpenBudget budget,
        CancellationToken attemptToken, CancellationToken cancellationToken)
    {
        var pending = new List<(ServerEndpoint Server, Task<NpgsqlConnection> Attempt)> { (first, firstAttempt) };
        Suspect(first, failures);
        var canHedge = TryHedge(pending, state, failures, budget, attemptToken, cancellationToken);
        using var timers = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        try
        {
            while (pending.Count > 0)
            {
                // While another server could take a hedge, the newest attempt gets one hedge delay before its server is
                // suspected too and a further attempt starts: two hung zones cost two hedge delays, not a Timeout.
                var waits = new List<Task>(pending.Count + 1);
                waits.AddRange(pending.Select(p => p.Attempt));
                var timer = canHedge ? Task.Delay(settings.HedgedOpenDelay, time, timers.Token) : null;
                if (timer is not null)
                    waits.Add(timer);
                Task done;
                try
                {
                    done = await Task.WhenAny(waits).WaitAsync(budget.Remaining, time, cancellationToken).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                    // The open's time is up: every attempt still running is given up (closed if it opens after all).
                    foreach (var (stillWaiting, _) in pending)
                        failures.Add(stillWaiting, RanOut(stillWaiting));
                    return null;
                }


                if (done == timer)
                {
                    Suspect(pending[^1].Server, failures);
                    canHedge = TryHedge(pending, state, failures, budget, attemptToken, cancellationToken);
                    continue;
                }

                var index = pending.FindIndex(p => p.Attempt == done);
                var (server, attempt) = pending[index];
                pending.RemoveAt(index);
                if (attempt.IsCompletedSuccessfully)
                    return attempt.Result;

                var error = attempt.Exception?.InnerException ?? new OperationCanceledException(cancellationToken);
                if (!FailureClassifier.IsServerUnavailable(error, cancellationToken))
                    ExceptionDispatchInfo.Throw(error);
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

    /// <summary>
    /// Waits for an attempt, or gives it up as soon as the caller cancels or the open's time is up
    /// (<paramref name="limit"/>): Npgsql does not always stop waiting for a server that accepted the connection and never
    /// answers. The abandoned attempt runs on until its own <c>Timeout</c>, still counted where it chose (not in the host
    /// map), and its connection, if it opens after all, is closed.
    /// </summary>
    /// <exception cref="TimeoutException">The open's time ran out.</exception>
    internal static async Task<NpgsqlConnection> Abandonable(
        Task<NpgsqlConnection> attempt, ServerEndpoint server, TimeSpan limit, TimeProvider time, CancellationToken cancellationToken)
    {
        if (!cancellationToken.CanBeCanceled && limit == Timeout.InfiniteTimeSpan)
            return await attempt.ConfigureAwait(false);
        try
        {
            return await attempt.WaitAsync(limit, time, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The attempt may have opened at the very moment the wait was cancelled: its connection is closed all the same,
            // since the caller, told of the cancellation, will never close it.
            CloseWhenOpened(attempt);
            throw;
        }
        catch (TimeoutException e) when (!attempt.IsCompleted)
        {
            CloseWhenOpened(attempt);
            throw RanOut(server, e);
        }
    }

    /// <summary>
    /// <see cref="Abandonable"/> for a synchronous open, which blocks its thread. On the system clock the blocked thread
    /// times the wait out itself: a timer's callback runs on the thread pool, which an application making synchronous opens
    /// under load may have starved, and would end the wait late. On any other clock, the clock's own timer does.
    /// </summary>
    /// <exception cref="TimeoutException">The open's time ran out.</exception>
    internal static NpgsqlConnection AbandonableSync(
        Task<NpgsqlConnection> attempt, ServerEndpoint server, TimeSpan limit, TimeProvider time, CancellationToken cancellationToken)
    {
        if (time != TimeProvider.System)
            return Abandonable(attempt, server, limit, time, cancellationToken).GetAwaiter().GetResult();
        bool ended;
        try
        {
            ended = attempt.Wait(limit, cancellationToken);
        }
        catch (AggregateException)
        {
            // The attempt failed: its own exception is thrown below, as an asynchronous open would.
            ended = true;
        }
        catch (OperationCanceledException)
        {
            CloseWhenOpened(attempt);
            throw;
        }

        if (!ended)
        {
            CloseWhenOpened(attempt);
            throw RanOut(server);
        }

        return attempt.GetAwaiter().GetResult();
    }

    /// <summary>The failure of an attempt that the open's time budget cut short: it says nothing of the server's health.</summary>
    internal static TimeoutException RanOut(ServerEndpoint server, Exception? inner = null) =>
        new(server.Fallbacks.Count == 0
            ? $"the open's Timeout ran out while connecting to {server}"
            // Npgsql goes through the server's host list within the attempt: it may have been at any of them.
            : $"the open's Timeout ran out while connecting to {server} or, within the same attempt, its next hosts {string.Join(", ", server.Fallbacks)}",
            inner);

    /// <summary>A server that has not answered within the hedge delay: other opens skip it, as a suspect of hanging.</summary>
    void Suspect(ServerEndpoint server, OpenFailures failures)
    {
        health.MarkDown(server, $"no answer within the hedged open delay of {settings.HedgedOpenDelay.TotalMilliseconds} ms", suspicion: true);
        topology.RequestRefresh();
        failures.Tried.Add(server);
    }

    /// <summary>
    /// Starts another attempt alongside, on a server that is up, never the probe of one marked down (two hung zones would
    /// otherwise cost a Timeout), only on one that opens quickly (<see cref="OpensQuickly"/>), and only where there is room
    /// at once: queueing behind a busy or slow server would not hedge.
    /// False when no server could take it.
    /// </summary>
    bool TryHedge(
        List<(ServerEndpoint Server, Task<NpgsqlConnection> Attempt)> pending, ClusterState state, OpenFailures failures, OpenBudget budget,
        CancellationToken attemptToken, CancellationToken cancellationToken)
    {
        if (opener.Select(state, failures.Tried, out var kind, allowProbe: false) is not { } next)
            return false;
        var ticket = new OpenTicket(next);
        if (!OpensQuickly(next) || !ticket.TryEnterGate())
        {
            ticket.Release();
            return false;
        }

        // A hedge gets what is left of the open's Timeout.
        pending.Add((next, opener.AttemptAsync(ticket, kind == SelectionKind.Probe, async: true, attemptToken, cancellationToken, budget.Timer).AsTask()));
        return true;
    }

    /// <summary>
    /// Whether <paramref name="server"/>'s new connections lately took less than <see cref="HungServerPolicy.SlowOpen"/>, or
    /// were not measured lately: only such a server is worth a hedge.
    /// </summary>
    bool OpensQuickly(ServerEndpoint server) =>
        !server.OpensSlowerThan(HungServerPolicy.SlowOpen(settings.HedgedOpenDelay), HungServerPolicy.OpenTimeMemory(settings.HedgedOpenDelay));

    /// <summary>An attempt that lost a race: its connection, if it opens after all, is closed (which counts it down).</summary>
    static void CloseWhenOpened(Task<NpgsqlConnection> attempt) =>
        _ = attempt.ContinueWith(static t =>
        {
            if (t.IsCompletedSuccessfully)
                t.Result.Dispose();
            else
                _ = t.Exception;
        }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
}
