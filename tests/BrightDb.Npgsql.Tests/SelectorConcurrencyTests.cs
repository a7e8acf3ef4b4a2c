using BrightDb.Npgsql.Balancing;
using CsCheck;
using Microsoft.Extensions.Time.Testing;
using static BrightDb.Npgsql.Tests.TestSupport;

namespace BrightDb.Npgsql.Tests;

public class SelectorConcurrencyTests
{
    readonly FakeTimeProvider _time = new();

    long Window => (long)(5 * _time.TimestampFrequency);

    static ServerEndpoint[] Servers(int n) => Enumerable.Range(0, n).Select(i => Endpoint($"s{i}", placement: A)).ToArray();

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(5)]
    public void Ties_are_broken_uniformly(int k)
    {
        // 6000 trials: each frequency has a standard deviation of at most 0.0065, so ±0.04 is beyond 6 sigma.
        const int trials = 6000;
        var servers = Servers(k);
        var plan = SelectionPlan.Build(servers, LoadBalanceMode.Any, [], false);
        var counts = new int[k];
        for (var i = 0; i < trials; i++)
        {
            var chosen = ServerSelector.SelectAndReserve(plan, _time, Window, null, out _)!;
            counts[Array.IndexOf(servers, chosen)]++;
            chosen.Release();
        }

        foreach (var c in counts)
            Assert.InRange((double)c / trials, 1.0 / k - 0.04, 1.0 / k + 0.04);

        // Chi-square with k-1 degrees of freedom; 30 is far beyond the 0.999 quantile for k <= 5 (18.5 at 4 d.f.).
        var expected = (double)trials / k;
        var chi2 = counts.Sum(c => (c - expected) * (c - expected) / expected);
        Assert.True(chi2 < 30, $"chi-square {chi2:F1} for counts {string.Join(",", counts)}");
    }

    [Fact]
    public void Only_one_of_many_concurrent_selections_probes_a_recovering_server()
    {
        const int threads = 8;
        for (var round = 0; round < 30; round++)
        {
            var servers = Servers(1);
            var alone = round % 2 == 0;
            if (!alone)
                servers = [.. servers, Endpoint("up", placement: A)];
            var down = servers[0];
            down.MarkDown(_time.GetTimestamp() + Window, "test");
            _time.Advance(TimeSpan.FromSeconds(5));
            var plan = SelectionPlan.Build(servers, LoadBalanceMode.Any, [], false);

            var results = new (ServerEndpoint? Chosen, bool Probe)[threads];
            using var start = new Barrier(threads);
            var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
            {
                start.SignalAndWait();
                var chosen = ServerSelector.SelectAndReserve(plan, _time, Window, null, out var kind);
                results[t] = (chosen, kind == SelectionKind.Probe);
            })).ToList();
            workers.ForEach(w => w.Start());
            workers.ForEach(w => w.Join());

            var probes = results.Where(r => r.Probe).ToList();
            Assert.Single(probes);
            Assert.Same(down, probes[0].Chosen);
            Assert.Equal(1, results.Count(r => r.Chosen == down));
            Assert.Equal(1, down.InUse);
            if (alone)
                Assert.Equal(threads - 1, results.Count(r => r.Chosen is null));
            else
                Assert.Equal(threads - 1, servers[1].InUse);
        }
    }

    [Fact]
    public void Counts_stay_within_one_while_held_and_return_to_zero()
    {
        // One reservation per thread per round, so a thread loses at most threads-1 races and never takes the
        // forced path: while all hold, the counts must be within one of each other.
        foreach (var (threads, serverCount, rounds) in new[] { (8, 3, 60), (8, 8, 40), (6, 4, 60), (8, 1, 20) })
        {
            var servers = Servers(serverCount);
            var plan = SelectionPlan.Build(servers, LoadBalanceMode.Any, [], false);
            var held = new ServerEndpoint?[threads];
            var failure = (string?)null;
            using var barrier = new Barrier(threads, _ =>
            {
                // Runs between phases, with every thread waiting: a quiescent moment.
                var counts = servers.Select(s => s.InUse).ToArray();
                var total = counts.Sum();
                if (total != 0 && total != threads)
                    failure ??= $"total {total}";
                else if (total == threads && counts.Max() - counts.Min() > 1)
                    failure ??= $"counts {string.Join(",", counts)} differ by more than one";
            });
            var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
            {
                for (var r = 0; r < rounds; r++)
                {
                    held[t] = ServerSelector.SelectAndReserve(plan, _time, Window, null, out _);
                    barrier.SignalAndWait();
                    held[t]!.Release();
                    barrier.SignalAndWait();
                }
            })).ToList();
            workers.ForEach(w => w.Start());
            workers.ForEach(w => w.Join());

            Assert.Null(failure);
            Assert.All(servers, s => Assert.Equal(0, s.InUse));
        }
    }

    [Fact]
    public void Any_interleaving_of_reserve_and_release_leaves_every_count_at_zero()
    {
        Gen.Select(Gen.Int[1, 6], Gen.Int[2, 6], Gen.Int[1, 4], Gen.Int[0, 2]).Sample((serverCount, threads, holdMax, downCount) =>
        {
            var time = new FakeTimeProvider();
            var servers = Servers(serverCount);
            for (var i = 0; i < Math.Min(downCount, serverCount); i++)
                servers[i].MarkDown(time.GetTimestamp() + 1, "test"); // its delay is already over: selectable, probed
            time.Advance(TimeSpan.FromSeconds(1));
            var plan = SelectionPlan.Build(servers, LoadBalanceMode.Any, [], false);
            var negative = 0;

            var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
            {
                var random = new Random(t);
                var mine = new Stack<ServerEndpoint>();
                for (var cycle = 0; cycle < 300; cycle++)
                {
                    if (mine.Count < holdMax && (mine.Count == 0 || random.Next(2) == 0))
                    {
                        if (ServerSelector.SelectAndReserve(plan, time, 1, null, out var kind) is { } chosen)
                        {
                            mine.Push(chosen);
                            if (kind == SelectionKind.Probe)
                                chosen.MarkUp();
                        }
                    }
                    else
                    {
                        mine.Pop().Release();
                    }

                    if (servers.Any(s => s.InUse < 0))
                        Interlocked.Increment(ref negative);
                }

                while (mine.Count > 0)
                    mine.Pop().Release();
            })).ToList();
            workers.ForEach(w => w.Start());
            workers.ForEach(w => w.Join());

            Assert.Equal(0, negative);
            Assert.All(servers, s => Assert.Equal(0, s.InUse));
        }, iter: 40, threads: 1);
    }
}
