using System.Net.Sockets;
using BrightDb.Npgsql.Balancing;
using BrightDb.Npgsql.ConnectionStrings;
using BrightDb.Npgsql.Opening;
using BrightDb.Npgsql.Topology;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Npgsql;
using static BrightDb.Npgsql.Tests.TestSupport;

namespace BrightDb.Npgsql.Tests;

/// <summary>
/// Every rule that depends on time, on a <see cref="FakeTimeProvider"/>: the connect gate's timeout, the hung-server rule,
/// refresh scheduling, down-mark expiry and signs of life.
/// </summary>
public class ClockRulesTests
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    // ---- The connect gate: its timeout runs on the data source's clock ----

    [Fact]
    public async Task Gate_wait_times_out_when_the_clock_passes_the_timeout_and_not_before()
    {
        var time = new FakeTimeProvider();
        var gate = new ConnectGate(1);
        Assert.True(gate.TryEnter());

        var wait = gate.WaitAsync(Timeout, time, () => false, async: true, CancellationToken.None).AsTask();
        // Real time passes (several poll periods) but the data source's clock does not: the wait goes on.
        await Task.Delay(200);
        Assert.False(wait.IsCompleted);

        time.Advance(Timeout + TimeSpan.FromMilliseconds(1));
        Assert.Equal(ConnectGate.WaitResult.TimedOut, await wait.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(1, gate.Active);
    }

    [Fact]
    public async Task Gate_wait_enters_when_a_place_is_freed()
    {
        var time = new FakeTimeProvider();
        var gate = new ConnectGate(1);
        Assert.True(gate.TryEnter());

        var wait = gate.WaitAsync(Timeout, time, () => false, async: true, CancellationToken.None).AsTask();
        gate.Exit();
        Assert.Equal(ConnectGate.WaitResult.Entered, await wait.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(1, gate.Active);
    }

    [Fact]
    public async Task Gate_wait_gives_up_when_told_and_is_cancelled_by_the_caller()
    {
        var time = new FakeTimeProvider();
        var gate = new ConnectGate(1);
        Assert.True(gate.TryEnter());

        var giveUp = false;
        var wait = gate.WaitAsync(Timeout, time, () => Volatile.Read(ref giveUp), async: true, CancellationToken.None).AsTask();
        Volatile.Write(ref giveUp, true);
        Assert.Equal(ConnectGate.WaitResult.GivenUp, await wait.WaitAsync(TimeSpan.FromSeconds(10)));

        using var cancel = new CancellationTokenSource();
        var cancelled = gate.WaitAsync(Timeout, time, () => false, async: true, cancel.Token).AsTask();
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(1, gate.Active);
    }

    // ---- The hung-server rule: a pure function of what one round observed ----

    public static TheoryData<string, double, bool, bool, bool, string> HungRounds => new()
    {
        { "silent server, another ready", 2000, false, false, true, "Hung" },
        { "timer 1.5x late plus the allowance exactly", 3050, false, false, true, "Hung" },
        { "timer later than that: the client is starved", 3051, false, false, true, "ClientStarved" },
        { "starvation wins over every other observation", 9000, true, true, false, "ClientStarved" },
        { "server answered another open within the delay", 2000, true, false, true, "ServerBusy" },
        { "server holds more than its pool allows", 2000, false, true, true, "ServerBusy" },
        { "no other server shows life, or each opens slowly", 2000, false, false, false, "NoOtherServerReady" },
    };

    [Theory]
    [MemberData(nameof(HungRounds))]
    public void Hung_rule(string because, double roundTookMs, bool answered, bool overCapacity, bool anotherReady, string expected)
    {
        var round = new HungServerPolicy.Round(TimeSpan.FromSeconds(2), TimeSpan.FromMilliseconds(roundTookMs), answered, overCapacity, anotherReady);
        Assert.True(Enum.Parse<HungServerPolicy.Verdict>(expected) == HungServerPolicy.Judge(round), because);
    }

    // ---- Refresh scheduling ----

    [Fact]
    public void Snapshot_is_stale_one_interval_after_it_was_installed()
    {
        var time = new FakeTimeProvider();
        var schedule = new RefreshSchedule(TimeSpan.FromSeconds(300), TimeSpan.FromSeconds(5), time);
        Assert.True(schedule.IsDue);
        schedule.Installed();
        time.Advance(TimeSpan.FromSeconds(299));
        Assert.False(schedule.IsDue);
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(schedule.IsDue);
    }

    [Theory]
    [InlineData(300, 5, 5)]     // a failed read is retried after the reconnect delay
    [InlineData(2, 5, 2)]       // or after the interval if that is shorter
    [InlineData(300, 0, 1)]     // a reconnect delay of 0 retries after 1 s
    [InlineData(0, 5, 5)]       // no background refresh: the reconnect delay
    public void Failed_read_is_retried_after_the_retry_delay(int intervalSeconds, int reconnectSeconds, int expectedSeconds)
    {
        var time = new FakeTimeProvider();
        var schedule = new RefreshSchedule(TimeSpan.FromSeconds(intervalSeconds), TimeSpan.FromSeconds(reconnectSeconds), time);
        Assert.Equal(TimeSpan.FromSeconds(expectedSeconds), schedule.RetryDelay);
        schedule.Failed();
        time.Advance(TimeSpan.FromSeconds(expectedSeconds) - TimeSpan.FromMilliseconds(1));
        Assert.False(schedule.IsDue);
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.True(schedule.IsDue);
    }

    sealed class Ticks
    {
        internal int Count;
    }

    [Fact]
    public async Task Timer_refreshes_every_interval_early_requests_are_spaced_and_stopping_ends_it()
    {
        var time = new FakeTimeProvider();
        var schedule = new RefreshSchedule(TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(5), time);
        var ticks = new Ticks();
        schedule.StartTimer(ticks, t => Interlocked.Increment(ref t.Count));
        schedule.StartTimer(ticks, t => Interlocked.Increment(ref t.Count)); // once only

        time.Advance(TimeSpan.FromSeconds(9));
        Assert.Equal(0, ticks.Count);
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(1, ticks.Count);

        // A refresh just started: an early request waits for the spacing, then fires, then the interval resumes.
        schedule.Started();
        schedule.RequestEarly();
        Assert.True(schedule.IsDue);
        time.Advance(RefreshSchedule.EarlyRefreshSpacing - TimeSpan.FromMilliseconds(1));
        Assert.Equal(1, ticks.Count);
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(2, ticks.Count);
        time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(3, ticks.Count);

        // Long after the last refresh started, an early request fires at once.
        schedule.RequestEarly();
        time.Advance(TimeSpan.Zero);
        Assert.Equal(4, ticks.Count);

        await schedule.StopAsync();
        schedule.RequestEarly();
        time.Advance(TimeSpan.FromSeconds(60));
        Assert.Equal(4, ticks.Count);
        schedule.StartTimer(ticks, t => Interlocked.Increment(ref t.Count)); // not after stopping
        time.Advance(TimeSpan.FromSeconds(60));
        Assert.Equal(4, ticks.Count);
    }

    [Fact]
    public void No_timer_when_the_interval_is_zero()
    {
        var time = new FakeTimeProvider();
        var schedule = new RefreshSchedule(TimeSpan.Zero, TimeSpan.FromSeconds(5), time);
        var ticks = new Ticks();
        schedule.StartTimer(ticks, t => Interlocked.Increment(ref t.Count));
        time.Advance(TimeSpan.FromHours(1));
        Assert.Equal(0, ticks.Count);
        Assert.False(schedule.InBackground);
    }

    // ---- The open's time budget ----

    [Fact]
    public void Budget_runs_from_its_start_and_is_spent_after_Timeout()
    {
        var time = new FakeTimeProvider();
        var budget = new OpenBudget(Settings("Host=h;Load Balance Hosts=true;Timeout=3"), time);
        Assert.False(budget.Exhausted); // not started: an open that waited for nothing has spent nothing
        time.Advance(TimeSpan.FromSeconds(10));
        Assert.False(budget.Exhausted);

        budget.Start();
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(TimeSpan.FromSeconds(1), budget.Remaining);
        budget.Start(); // once only
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(budget.Exhausted);
        Assert.Equal(TimeSpan.Zero, budget.Remaining);
        budget.Dispose();
    }

    [Fact]
    public void Budget_token_is_cancelled_when_the_time_is_up_and_tells_it_from_the_callers()
    {
        var time = new FakeTimeProvider();
        var budget = new OpenBudget(Settings("Host=h;Load Balance Hosts=true;Timeout=3"), time);
        using var caller = new CancellationTokenSource();
        budget.Start();
        time.Advance(TimeSpan.FromSeconds(1));
        var token = budget.Token(caller.Token);
        Assert.Equal(token, budget.Token(caller.Token)); // made once
        time.Advance(TimeSpan.FromMilliseconds(1999));
        Assert.False(token.IsCancellationRequested);
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.True(token.IsCancellationRequested);
        Assert.True(OpenBudget.RanOut(budget.Timer, token, caller.Token));
        budget.Dispose();

        var other = new OpenBudget(Settings("Host=h;Load Balance Hosts=true;Timeout=3"), time);
        using var cancelled = new CancellationTokenSource();
        other.Start();
        var otherToken = other.Token(cancelled.Token);
        cancelled.Cancel();
        Assert.True(otherToken.IsCancellationRequested);
        Assert.False(OpenBudget.RanOut(other.Timer, otherToken, cancelled.Token)); // the caller's, not the budget's
        other.Dispose();
    }

    [Fact]
    public void No_budget_when_Timeout_is_zero()
    {
        var time = new FakeTimeProvider();
        var budget = new OpenBudget(Settings("Host=h;Load Balance Hosts=true;Timeout=0"), time);
        budget.Start();
        time.Advance(TimeSpan.FromHours(1));
        Assert.False(budget.Exhausted);
        Assert.Equal(System.Threading.Timeout.InfiniteTimeSpan, budget.Remaining);
        using var caller = new CancellationTokenSource();
        Assert.Equal(caller.Token, budget.Token(caller.Token));
        Assert.Null(budget.Timer);
    }

    // ---- Down marks: skipped for the reconnect delay, then one probe ----

    static ServerHealth Health(FakeTimeProvider time, TimeSpan delay, List<string> events) => new(
        time, NullLogger.Instance, "test", delay,
        (server, reason) => events.Add($"down {server}"), server => events.Add($"up {server}"), attemptLifetime: TimeSpan.FromSeconds(15));

    [Fact]
    public void Down_mark_expires_after_the_reconnect_delay_and_then_allows_one_probe()
    {
        var time = new FakeTimeProvider();
        var events = new List<string>();
        var health = Health(time, TimeSpan.FromSeconds(5), events);
        ServerEndpoint[] servers = [Endpoint("10.0.0.1"), Endpoint("10.0.0.2")];
        var plan = SelectionPlan.Build(servers, LoadBalanceMode.Any, [], topologyKeysOnly: false, capacity: 100);

        health.MarkDown(servers[0], "refused");
        Assert.Equal(["down 10.0.0.1:2521"], events);
        health.MarkDown(servers[0], "refused again");
        Assert.Single(events); // raised once, when it went down

        time.Advance(TimeSpan.FromSeconds(5) - TimeSpan.FromTicks(1));
        for (var i = 0; i < 20; i++)
        {
            var chosen = ServerSelector.SelectAndReserve(plan, time, health.ReconnectDelayTicks, null, out var kind);
            Assert.Same(servers[1], chosen);
            Assert.Equal(SelectionKind.Normal, kind);
            chosen!.Release();
        }

        time.Advance(TimeSpan.FromTicks(1));
        servers[1].InUse = 1; // the recovering server is now the least loaded
        var probe = ServerSelector.SelectAndReserve(plan, time, health.ReconnectDelayTicks, null, out var probeKind);
        Assert.Same(servers[0], probe);
        Assert.Equal(SelectionKind.Probe, probeKind);

        // While the probe runs, the other opens skip the server (one probe, not a burst).
        var next = ServerSelector.SelectAndReserve(plan, time, health.ReconnectDelayTicks, null, out var nextKind);
        Assert.Same(servers[1], next);
        Assert.Equal(SelectionKind.Normal, nextKind);

        health.MarkUp(servers[0]);
        Assert.Equal(["down 10.0.0.1:2521", "up 10.0.0.1:2521"], events);
        Assert.Equal(0, servers[0].DownUntil);
    }

    [Fact]
    public void Signs_of_life_are_judged_on_the_clock()
    {
        var time = new FakeTimeProvider();
        var server = new ServerEndpoint(new HostAndPort("10.0.0.1", 2521), _ => throw new InvalidOperationException(), time: time);
        Assert.False(server.AnsweredWithin(TimeSpan.FromHours(1)));

        server.NoteAnswer();
        time.Advance(TimeSpan.FromMilliseconds(1999));
        Assert.True(server.AnsweredWithin(TimeSpan.FromSeconds(2)));
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.False(server.AnsweredWithin(TimeSpan.FromSeconds(2)));

        server.NoteAnswer();
        Assert.True(server.AnsweredWithin(TimeSpan.FromMilliseconds(1)));
    }
    // ---- A pass-over reported by an attempt older than the server's recovery ----

    static readonly Exception Refused = new SocketException((int)SocketError.ConnectionRefused);

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public void A_server_passed_over_soon_after_it_answered_again_is_asked_before_it_is_marked_down(bool refuses, bool markedDown)
    {
        var answer = refuses ? Refused : null;
        var time = new FakeTimeProvider();
        var events = new List<string>();
        var health = new ServerHealth(time, NullLogger.Instance, "test", TimeSpan.FromSeconds(1),
            (server, reason) => events.Add($"down {server}"), server => events.Add($"up {server}"), attemptLifetime: TimeSpan.FromSeconds(3));
        var asked = new List<string>();
        health.AskAsync = server =>
        {
            asked.Add(server.ToString());
            return Task.FromResult(answer);
        };
        var (hung, other) = (Endpoint("10.0.0.1"), Endpoint("10.0.0.2"));

        // A hedge suspected the server; later it answered again.
        health.MarkDown(hung, "no answer within the hedged open delay", suspicion: true);
        time.Advance(TimeSpan.FromSeconds(2));
        health.MarkUp(hung);
        Assert.Equal(["down 10.0.0.1:2521", "up 10.0.0.1:2521"], events);

        // An attempt that began while it hung gives up on it now: the server is asked whether it answers.
        time.Advance(TimeSpan.FromMilliseconds(600));
        health.PassedOver(hung, other);
        Assert.Equal(["10.0.0.1:2521"], asked);
        Assert.Equal(markedDown, hung.DownUntil != 0);
        Assert.Equal(markedDown ? 3 : 2, events.Count);
        if (markedDown)
        {
            // The cause is an error: the server is condemned, not merely suspected.
            Assert.Equal(FailureClassifier.Describe(Refused), hung.LastFailure);
            Assert.False(hung.OnlySuspected);
        }
    }

    [Fact]
    public void A_server_passed_over_long_after_it_answered_again_or_never_down_is_marked_down_at_once()
    {
        var time = new FakeTimeProvider();
        var events = new List<string>();
        var health = new ServerHealth(time, NullLogger.Instance, "test", TimeSpan.FromSeconds(1),
            (server, reason) => events.Add($"down {server}"), server => events.Add($"up {server}"), attemptLifetime: TimeSpan.FromSeconds(3));
        var asked = 0;
        health.AskAsync = _ =>
        {
            asked++;
            return Task.FromResult<Exception?>(null);
        };
        var (server, other, never) = (Endpoint("10.0.0.1"), Endpoint("10.0.0.2"), Endpoint("10.0.0.3"));

        health.PassedOver(never, other);
        Assert.NotEqual(0, never.DownUntil);
        // It answered the driver's own connection: the cause stays unknown, and the server only suspected.
        Assert.True(never.OnlySuspected);

        health.MarkDown(server, "refused");
        health.MarkUp(server);
        time.Advance(TimeSpan.FromSeconds(3));
        health.PassedOver(server, other);
        Assert.NotEqual(0, server.DownUntil);
        // Marking down at once still asks why in the background, once per mark-down: twice here, and never to decide.
        Assert.Equal(2, asked);
        Assert.Equal(["down 10.0.0.3:2521", "down 10.0.0.1:2521", "up 10.0.0.1:2521", "down 10.0.0.1:2521"], events);
    }

    // ---- A slow answer is a suspicion, an error a down mark ----

    static readonly Exception ReadTimeout =
        new NpgsqlException("Exception while reading from stream", new TimeoutException("Timeout during reading attempt"));

    public static TheoryData<string, bool> Failures => new()
    {
        { "refused", false },
        { "read timeout", true },
        { "every host timed out", true },
        { "one host refused, one timed out", false },
        { "attempt cancelled", true },
        { "57P01", false },
    };

    static Exception Failure(string name) => name switch
    {
        "refused" => new NpgsqlException("Failed to connect to 10.0.0.1:2521", Refused),
        "read timeout" => ReadTimeout,
        "every host timed out" => new NpgsqlException("Unable to connect to a suitable host.", new AggregateException(ReadTimeout, new TimeoutException())),
        "one host refused, one timed out" => new NpgsqlException("Unable to connect to a suitable host.",
            new AggregateException(ReadTimeout, new NpgsqlException("Failed to connect", Refused))),
        "attempt cancelled" => new OperationCanceledException(),
        "57P01" => new PostgresException("terminating connection due to administrator command", "FATAL", "FATAL", PostgresErrorCodes.AdminShutdown),
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    [Theory]
    [MemberData(nameof(Failures))]
    public void A_server_that_only_answered_late_is_suspected_and_one_that_failed_is_marked_down(string failure, bool suspected)
    {
        var time = new FakeTimeProvider();
        var events = new List<string>();
        var health = new ServerHealth(time, NullLogger.Instance, "test", TimeSpan.FromSeconds(1),
            (server, reason) => events.Add($"down {server}"), server => events.Add($"up {server}"), attemptLifetime: Timeout);
        var server = Endpoint("10.0.0.1");
        var error = Failure(failure);
        Assert.True(FailureClassifier.IsServerUnavailable(error, CancellationToken.None));

        health.Unreachable(server, error);
        Assert.NotEqual(0, server.DownUntil);
        Assert.Equal(suspected, server.OnlySuspected);
        Assert.Equal(FailureClassifier.Describe(error), server.LastFailure);
        Assert.Equal(["down 10.0.0.1:2521"], events);

        // A later error outweighs a suspicion; a later slow answer does not clear an error, nor replace its reason.
        var later = Failure(suspected ? "refused" : "read timeout");
        health.Unreachable(server, later);
        Assert.False(server.OnlySuspected);
        Assert.Equal(FailureClassifier.Describe(suspected ? later : error), server.LastFailure);
    }

    [Fact]
    public void Servers_marked_down_by_timeouts_alone_are_still_chosen_as_a_last_resort_and_refusing_ones_are_not()
    {
        var time = new FakeTimeProvider();
        var health = new ServerHealth(time, NullLogger.Instance, "test", TimeSpan.FromSeconds(30), (_, _) => { }, _ => { }, attemptLifetime: Timeout);
        ServerEndpoint[] servers = [Endpoint("10.0.0.1"), Endpoint("10.0.0.2"), Endpoint("10.0.0.3")];
        var plan = SelectionPlan.Build(servers, LoadBalanceMode.Any, [], topologyKeysOnly: false, capacity: 100);
        health.Unreachable(servers[0], Failure("refused"));
        health.Unreachable(servers[1], Failure("read timeout"));
        health.Unreachable(servers[2], Failure("refused"));

        var chosen = ServerSelector.SelectAndReserve(plan, time, health.ReconnectDelayTicks, exclude: null, out var kind);
        Assert.Same(servers[1], chosen);
        Assert.Equal(SelectionKind.LastResort, kind);

        health.Unreachable(servers[1], Failure("refused"));
        Assert.Null(ServerSelector.SelectAndReserve(plan, time, health.ReconnectDelayTicks, exclude: null, out _));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_server_passed_over_is_suspected_until_its_cause_is_known_and_condemned_only_by_an_error(bool timesOut)
    {
        var time = new FakeTimeProvider();
        var health = new ServerHealth(time, NullLogger.Instance, "test", TimeSpan.FromSeconds(1), (_, _) => { }, _ => { }, attemptLifetime: Timeout);
        // Completed off the test's synchronization context, which would defer the driver's continuation: the driver's handling
        // of the answer has run when SetResult returns.
        var answer = new TaskCompletionSource<Exception?>();
        health.AskAsync = _ => answer.Task;
        var (server, other) = (Endpoint("10.0.0.1"), Endpoint("10.0.0.2"));

        health.PassedOver(server, other);
        Assert.NotEqual(0, server.DownUntil);
        Assert.True(server.OnlySuspected);

        var cause = timesOut ? ReadTimeout : new NpgsqlException("Failed to connect to 10.0.0.1:2521", Refused);
        await Task.Run(() => answer.SetResult(cause));
        Assert.Equal(FailureClassifier.Describe(cause), server.LastFailure);
        Assert.NotEqual(0, server.DownUntil);
        Assert.Equal(timesOut, server.OnlySuspected);
    }
}
