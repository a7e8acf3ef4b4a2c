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

    /// <summary>Records <paramref name="count"/> opens on <paramref name="server"/> that each took <paramref name="ms"/>.</summary>
    static void Opens(FakeTimeProvider time, ServerEndpoint server, int ms, int count = 1)
    {
        for (var i = 0; i < count; i++)
        {
            var started = server.TimingStart();
            time.Advance(TimeSpan.FromMilliseconds(ms));
            server.NoteWaitedOpen(started);
        }
    }

    [Theory]
    [InlineData(240, true)]
    [InlineData(300, false)]
    [InlineData(2000, false)]
    public async Task A_silent_server_is_judged_hung_only_while_another_server_opens_connections_within_half_the_hedge_delay(
        int otherOpenMs, bool hung)
    {
        // Where every server is slow to open (an overloaded cluster or client), a hedge answers no sooner and adds load.
        var f = new Fixture();
        Opens(f.Time, f.Other, otherOpenMs, count: 20);

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
        Opens(f.Time, f.Other, 2000, count: 4);
        f.Time.Advance(5 * Delay - Delay);

        // One hedge delay later, the measurement is five hedge delays old.
        var wait = f.LooksHung(new TaskCompletionSource<NpgsqlConnection>().Task, TimeSpan.FromSeconds(15)).AsTask();
        await AdvanceAsync(f.Time, Delay);
        Assert.True(await wait.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public void A_servers_open_time_is_an_average_of_its_last_few_opens_presumed_quick_at_first()
    {
        var time = new FakeTimeProvider();
        var threshold = TimeSpan.FromMilliseconds(250);
        var memory = TimeSpan.FromSeconds(10);

        // One slowish open (a process's first, say) does not make a server slow: 400 ms weighs a quarter against nothing.
        var server = Endpoint("10.0.0.1", time: time);
        Assert.False(server.OpensSlowerThan(threshold, memory));
        Opens(time, server, 400);
        Assert.False(server.OpensSlowerThan(threshold, memory));
        // Three more do: 175, then 231.3, then 273.4 ms.
        Opens(time, server, 400, count: 2);
        Assert.False(server.OpensSlowerThan(threshold, memory));
        Opens(time, server, 400);
        Assert.True(server.OpensSlowerThan(threshold, memory));

        // A very slow open weighs a quarter too; quick ones bring the average down a quarter of the way each.
        server = Endpoint("10.0.0.2", time: time);
        Opens(time, server, 2000);
        Assert.True(server.OpensSlowerThan(threshold, memory));
        Opens(time, server, 10, count: 2);
        Assert.True(server.OpensSlowerThan(threshold, memory), "500 ms, then 377.5 and 285.6 ms");
        Opens(time, server, 10);
        Assert.False(server.OpensSlowerThan(threshold, memory), "216.7 ms");

        // Measurements older than the memory say nothing.
        Opens(time, server, 2000, count: 2);
        Assert.True(server.OpensSlowerThan(threshold, memory));
        time.Advance(memory);
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
