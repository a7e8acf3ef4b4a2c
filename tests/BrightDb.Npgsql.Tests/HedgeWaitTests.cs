using BrightDb.Npgsql.Balancing;
using BrightDb.Npgsql.Opening;
using BrightDb.Npgsql.Topology;
using Microsoft.Extensions.Time.Testing;
using Npgsql;
using static BrightDb.Npgsql.Tests.TestSupport;

namespace BrightDb.Npgsql.Tests;

/// <summary>
/// How an asynchronous open waits for its attempt before hedging, on a <see cref="FakeTimeProvider"/>: a server is judged
/// hung one hedge delay after the attempt started, never before; the wait ends with the attempt, the caller's cancellation
/// or the open's time.
/// </summary>
public class HedgeWaitTests
{
    static readonly TimeSpan Delay = TimeSpan.FromMilliseconds(500);

    sealed class Fixture
    {
        internal FakeTimeProvider Time { get; } = new();
        internal ServerEndpoint Slow { get; }
        internal ServerEndpoint Other { get; }
        internal ClusterState State { get; }
        internal HedgedOpen Hedged { get; }

        internal Fixture(bool otherServer = true)
        {
            Slow = Endpoint("10.0.0.1", time: Time);
            Other = Endpoint("10.0.0.2", time: Time);
            ServerEndpoint[] servers = otherServer ? [Slow, Other] : [Slow];
            var settings = Settings($"Host=10.0.0.1;Hedged Open Delay={Delay.TotalMilliseconds}");
            var topology = new ClusterTopology([.. servers.Select(s => s.Info!)], Time.GetUtcNow(), fromYbServers: true);
            State = new ClusterState(topology, SelectionPlan.Build(servers, settings), servers);
            // Waiting judges the server by the policy; hedging itself (the opener, health, topology) is not reached.
            Hedged = new HedgedOpen(null!, settings, Time, null!, null!);
        }

        internal ValueTask<bool> LooksHung(Task<NpgsqlConnection> attempt, TimeSpan limit, CancellationToken ct = default) =>
            Hedged.LooksHungAsync(Slow, attempt, State, limit, ct);
    }

    /// <summary>Advances the fake clock and lets the continuations it released run.</summary>
    static async Task AdvanceAsync(FakeTimeProvider time, TimeSpan by)
    {
        time.Advance(by);
        await Task.Delay(50);
    }

    [Fact]
    public async Task A_silent_server_is_judged_hung_one_hedge_delay_after_the_attempt_started_and_not_before()
    {
        var f = new Fixture();
        var attempt = new TaskCompletionSource<NpgsqlConnection>();
        var wait = f.LooksHung(attempt.Task, TimeSpan.FromSeconds(15)).AsTask();

        await AdvanceAsync(f.Time, Delay - TimeSpan.FromMilliseconds(1));
        Assert.False(wait.IsCompleted);
        await AdvanceAsync(f.Time, TimeSpan.FromMilliseconds(1));
        Assert.True(await wait.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Theory]
    [InlineData(249, true)]
    [InlineData(250, false)]
    [InlineData(2000, false)]
    public async Task A_silent_server_is_judged_hung_only_while_another_server_opens_connections_within_half_the_hedge_delay(
        int otherOpenMs, bool hung)
    {
        // Where every server is slow to open (an overloaded cluster or client), a hedge answers no sooner and adds load.
        var f = new Fixture();
        var started = f.Other.TimingStart();
        f.Time.Advance(TimeSpan.FromMilliseconds(otherOpenMs));
        f.Other.NoteWaitedOpen(started);

        var wait = f.LooksHung(new TaskCompletionSource<NpgsqlConnection>().Task, 4 * Delay).AsTask();
        for (var i = 0; i < 3; i++)
        {
            await AdvanceAsync(f.Time, Delay);
            if (hung)
                break;
            Assert.False(wait.IsCompleted, $"round {i + 1}");
        }

        if (!hung)
            await AdvanceAsync(f.Time, Delay);
        Assert.Equal(hung, await wait.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task A_slow_open_measured_five_hedge_delays_ago_no_longer_holds_back_a_hedge()
    {
        var f = new Fixture();
        var started = f.Other.TimingStart();
        f.Time.Advance(TimeSpan.FromSeconds(2));
        f.Other.NoteWaitedOpen(started);
        f.Time.Advance(5 * Delay - Delay);

        // One hedge delay later, the measurement is five hedge delays old.
        var wait = f.LooksHung(new TaskCompletionSource<NpgsqlConnection>().Task, TimeSpan.FromSeconds(15)).AsTask();
        await AdvanceAsync(f.Time, Delay);
        Assert.True(await wait.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public void A_servers_open_time_follows_its_newest_opens()
    {
        var time = new FakeTimeProvider();
        var server = Endpoint("10.0.0.1", time: time);
        var threshold = TimeSpan.FromMilliseconds(250);
        var memory = TimeSpan.FromSeconds(10);
        Assert.False(server.OpensSlowerThan(threshold, memory));

        void Open(int ms)
        {
            var started = server.TimingStart();
            time.Advance(TimeSpan.FromMilliseconds(ms));
            server.NoteWaitedOpen(started);
        }

        Open(2000);
        Assert.True(server.OpensSlowerThan(threshold, memory));
        // Each open weighs a quarter: 2000 ms, then 10 ms opens: 1502.5, 1129.4, 849.5, 639.7, 482.3, 364.2, 275.7, 209.2.
        for (var i = 0; i < 7; i++)
        {
            Open(10);
            Assert.True(server.OpensSlowerThan(threshold, memory), $"after {i + 1} quick opens");
        }

        Open(10);
        Assert.False(server.OpensSlowerThan(threshold, memory));
    }

    [Fact]
    public async Task The_wait_ends_when_the_attempt_does_whatever_its_outcome()
    {
        var f = new Fixture();
        var succeeded = new TaskCompletionSource<NpgsqlConnection>();
        var wait = f.LooksHung(succeeded.Task, TimeSpan.FromSeconds(15)).AsTask();
        await AdvanceAsync(f.Time, Delay / 2);
        succeeded.SetResult(new NpgsqlConnection());
        Assert.False(await wait.WaitAsync(TimeSpan.FromSeconds(10)));

        var failed = new TaskCompletionSource<NpgsqlConnection>();
        wait = f.LooksHung(failed.Task, TimeSpan.FromSeconds(15)).AsTask();
        failed.SetException(new NpgsqlException("refused"));
        Assert.False(await wait.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task The_callers_cancellation_ends_the_wait_at_once()
    {
        var f = new Fixture();
        using var cts = new CancellationTokenSource();
        var wait = f.LooksHung(new TaskCompletionSource<NpgsqlConnection>().Task, TimeSpan.FromSeconds(15), cts.Token).AsTask();
        await cts.CancelAsync();
        Assert.False(await wait.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task With_no_server_to_hedge_on_the_wait_goes_on_round_after_round_until_the_opens_time_is_up()
    {
        var f = new Fixture(otherServer: false);
        var wait = f.LooksHung(new TaskCompletionSource<NpgsqlConnection>().Task, TimeSpan.FromSeconds(3)).AsTask();
        for (var i = 0; i < 5; i++)
        {
            await AdvanceAsync(f.Time, Delay);
            Assert.False(wait.IsCompleted);
        }

        await AdvanceAsync(f.Time, TimeSpan.FromSeconds(3) - 5 * Delay - TimeSpan.FromMilliseconds(1));
        Assert.False(wait.IsCompleted);
        await AdvanceAsync(f.Time, TimeSpan.FromMilliseconds(1));
        Assert.False(await wait.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task No_time_left_means_no_wait()
    {
        var f = new Fixture();
        Assert.False(await f.LooksHung(new TaskCompletionSource<NpgsqlConnection>().Task, TimeSpan.Zero));
    }
}
