using BrightDb.Npgsql.Balancing;
using BrightDb.Npgsql.ConnectionStrings;
using CsCheck;
using Microsoft.Extensions.Time.Testing;

namespace BrightDb.Npgsql.Tests;

/// <summary>
/// Server selection on generated clusters and settings: the chosen server is the one the rules name (a candidate of the
/// plan, of the first group that has a usable server, the least loaded there; never removed, already tried, or marked down
/// by an error whose delay is not over), it is counted once, counts never go negative whatever the order of choices and
/// releases, and servers tied at the minimum are chosen uniformly.
/// </summary>
public class SelectionProperties
{
    const int Cases = 10_000;

    static readonly TimeSpan ReconnectDelay = TimeSpan.FromSeconds(5);

    enum Mark { Up, Error, Suspected, ErrorDelayOver, SuspectedDelayOver }

    /// <summary>One server: placement (an index into <see cref="Placements"/>, or none reported), node type, connections open, opens in progress, down mark.</summary>
    sealed record ServerSpec(int? Placement, ServerNodeType Type, int Open, int Opening, Mark Mark, bool Removed, bool Tried);

    sealed record Cluster(ServerSpec[] Servers, LoadBalanceMode Mode, TopologyKey[] Keys, bool KeysOnly, int Capacity, bool AllowProbe)
    {
        public override string ToString() =>
            $"mode {Mode}, keys {string.Join(",", Keys)}{(KeysOnly ? " only" : "")}, capacity {Capacity}, probes {AllowProbe}:\n" +
            string.Join("\n", Servers.Select((s, i) => $"s{i}: {s}"));
    }

    static readonly string[] Placements =
        [.. from c in new[] { "aws", "gcp" } from r in new[] { "r1", "r2" } from z in new[] { "z1", "z2", "z3" } select $"{c}.{r}.{z}"];

    static Gen<ServerSpec> Server(params Mark[] marks) =>
        from placement in Gen.Int[0, Placements.Length - 1].Nullable(0.1)
        from type in Gen.Enum<ServerNodeType>()
        from open in Gen.Int[0, 4]
        from opening in Gen.Frequency((3, Gen.Const(0)), (1, Gen.Int[1, 2]))
        from mark in Gen.Frequency((6, Gen.Const(Mark.Up)), (4, Gen.OneOfConst(marks)))
        from removed in Gen.Int[0, 19].Select(n => n == 0)
        from tried in Gen.Int[0, 9].Select(n => n == 0)
        select new ServerSpec(placement, type, open, opening, mark, removed, tried);

    static readonly Gen<TopologyKey> Key =
        from cloud in Gen.OneOfConst("aws", "gcp", "azure")
        from region in Gen.OneOfConst("r1", "r2")
        from zone in Gen.OneOfConst<string?>("z1", "z2", "z3", null)
        from level in Gen.Int[1, 3]
        select new TopologyKey(cloud, region, zone, level);

    static Gen<Cluster> Clusters(int maxServers, params Mark[] marks) =>
        from servers in Server(marks).Array[1, maxServers]
        from mode in Gen.Enum<LoadBalanceMode>()
        from keys in Gen.Frequency((2, Gen.Const(Array.Empty<TopologyKey>())), (3, Key.Array[1, 3]))
        from keysOnly in Gen.Bool
        from capacity in Gen.Frequency((1, Gen.Const(int.MaxValue)), (2, Gen.Int[1, 6]))
        from allowProbe in Gen.Frequency((3, Gen.Const(true)), (1, Gen.Const(false)))
        select new Cluster(servers, mode, keys, keysOnly, capacity, allowProbe);

    static readonly Mark[] AnyMark = Enum.GetValues<Mark>();

    /// <summary>The endpoints of a cluster, in its state, on <paramref name="time"/>.</summary>
    static ServerEndpoint[] Create(Cluster cluster, FakeTimeProvider time, long window) =>
        [.. cluster.Servers.Select((spec, i) =>
        {
            var e = TestSupport.Endpoint($"s{i}", spec.Type, Placements[spec.Placement ?? 0]);
            if (spec.Placement is null)
                e.Info = null;
            e.InUse = spec.Open;
            e.Removed = spec.Removed;
            for (var n = 0; n < spec.Opening; n++)
                e.Reserve();
            MarkAs(e, spec.Mark, time, window);
            return e;
        })];

    static void MarkAs(ServerEndpoint e, Mark mark, TimeProvider time, long window)
    {
        var now = time.GetTimestamp();
        _ = mark switch
        {
            Mark.Error => e.MarkDown(now + window, "connection refused"),
            Mark.Suspected => e.MarkDown(now + window, "no answer in time", suspicion: true),
            Mark.ErrorDelayOver => e.MarkDown(now, "connection refused"),
            Mark.SuspectedDelayOver => e.MarkDown(now, "no answer in time", suspicion: true),
            _ => e.MarkUp(),
        };
    }

    static SelectionPlan Plan(Cluster c, ServerEndpoint[] servers) => SelectionPlan.Build(servers, c.Mode, c.Keys, c.KeysOnly, c.Capacity);

    /// <summary>A server's state before a choice.</summary>
    readonly record struct State(int Load, long DownUntil, bool OnlySuspected, bool Removed)
    {
        internal static State Of(ServerEndpoint e) => new(e.InUse, e.DownUntil, e.OnlySuspected, e.Removed);
    }

    /// <summary>
    /// Which servers the rules allow for one choice, and how: the least loaded of the first group having a usable server
    /// (up or due a probe, with room); else, pools being bounded, the least loaded server that is up, full or not; else the
    /// least loaded server marked down only on suspicion, with room.
    /// </summary>
    static (HashSet<ServerEndpoint> Allowed, SelectionKind Kind) Expected(
        SelectionPlan plan, IReadOnlyDictionary<ServerEndpoint, State> before, HashSet<ServerEndpoint> tried, bool allowProbe, long now)
    {
        bool Open(ServerEndpoint e) => !before[e].Removed && !tried.Contains(e);
        bool Room(ServerEndpoint e) => before[e].Load < plan.Capacity;
        bool Up(ServerEndpoint e) => before[e].DownUntil == 0;
        bool DueProbe(ServerEndpoint e) => allowProbe && before[e].DownUntil is not 0 and var d && d <= now;

        (Func<ServerEndpoint, bool> Rule, SelectionKind Kind)[] passes =
        [
            (e => Open(e) && Room(e) && (Up(e) || DueProbe(e)), SelectionKind.Normal),
            (e => plan.Capacity != int.MaxValue && Open(e) && Up(e), SelectionKind.Normal),
            (e => Open(e) && Room(e) && !Up(e) && before[e].OnlySuspected, SelectionKind.LastResort),
        ];
        foreach (var (rule, kind) in passes)
        {
            foreach (var group in plan.Groups)
            {
                var usable = group.Where(rule).ToList();
                if (usable.Count == 0)
                    continue;
                var min = usable.Min(e => before[e].Load);
                return ([.. usable.Where(e => before[e].Load == min)], kind);
            }
        }

        return ([], SelectionKind.Normal);
    }

    /// <summary>Chooses once and checks the choice against the rules; returns the chosen server (counted) or null.</summary>
    static ServerEndpoint? ChooseAndCheck(
        SelectionPlan plan, ServerEndpoint[] servers, FakeTimeProvider time, long window, HashSet<ServerEndpoint> tried, bool allowProbe)
    {
        var before = servers.ToDictionary(e => e, State.Of);
        var now = time.GetTimestamp();
        var (allowed, expectedKind) = Expected(plan, before, tried, allowProbe, now);

        var chosen = ServerSelector.SelectAndReserve(plan, time, window, tried.Count == 0 ? null : tried, out var kind, allowProbe);

        if (chosen is null)
        {
            Assert.True(allowed.Count == 0, $"no server chosen, but {string.Join(",", allowed)} could be");
        }
        else
        {
            var was = before[chosen];
            Assert.Contains(chosen, plan.Candidates);
            Assert.False(was.Removed, $"{chosen} has left the cluster");
            Assert.DoesNotContain(chosen, tried);
            Assert.False(was.DownUntil > now && !was.OnlySuspected, $"{chosen} is marked down by an error whose delay is not over");
            Assert.True(allowed.Contains(chosen), $"{chosen} chosen, but the rules allow {string.Join(",", allowed)}");
            // A server marked down and chosen as a usable one is its probe.
            Assert.Equal(expectedKind == SelectionKind.Normal && was.DownUntil != 0 ? SelectionKind.Probe : expectedKind, kind);
        }

        // The choice is counted once, on the chosen server only.
        foreach (var e in servers)
            Assert.Equal(before[e].Load + (e == chosen ? 1 : 0), e.InUse);
        return chosen;
    }

    static HashSet<ServerEndpoint> Tried(Cluster c, ServerEndpoint[] servers) => [.. servers.Where((_, i) => c.Servers[i].Tried)];

    [Fact]
    public void A_choice_follows_the_rules_and_is_counted_once()
    {
        Clusters(50, AnyMark).Sample(c =>
        {
            var time = new FakeTimeProvider();
            var window = (long)(ReconnectDelay.TotalSeconds * time.TimestampFrequency);
            var servers = Create(c, time, window);
            var plan = Plan(c, servers);
            AssertPlan(c, servers, plan);
            ChooseAndCheck(plan, servers, time, window, Tried(c, servers), c.AllowProbe);
        }, iter: Cases, print: c => c.ToString());
    }

    /// <summary>The plan holds each server the mode and the topology keys allow, once, and no other.</summary>
    static void AssertPlan(Cluster c, ServerEndpoint[] servers, SelectionPlan plan)
    {
        var candidates = plan.Candidates.ToList();
        Assert.Equal(candidates.Count, candidates.Distinct().Count());
        var expected = servers.Where(e =>
            (c.Mode switch
            {
                LoadBalanceMode.OnlyPrimary => e.Info?.NodeType == ServerNodeType.Primary,
                LoadBalanceMode.OnlyReadReplica => e.Info?.NodeType == ServerNodeType.ReadReplica,
                LoadBalanceMode.PreferPrimary or LoadBalanceMode.PreferReadReplica => e.Info is not null,
                _ => true,
            })
            && (!c.KeysOnly || c.Keys.Length == 0 || (e.Info is { } i && c.Keys.Any(k => k.Matches(i.Cloud, i.Region, i.Zone)))));
        Assert.Equal(expected.ToHashSet(), candidates.ToHashSet());
    }

    /// <summary>One step of a sequence: choose (some servers already tried), release a held choice, mark a server down or up, let time pass.</summary>
    sealed record Step(int Kind, int Server, int Choice, bool Flag, int Seconds);

    static readonly Gen<Step> Steps =
        Gen.Select(Gen.Frequency((5, Gen.Const(0)), (4, Gen.Const(1)), (1, Gen.Const(2)), (1, Gen.Const(3)), (1, Gen.Const(4))),
            Gen.Int[0, 49], Gen.Int[0, 1000], Gen.Bool, Gen.Int[0, 7],
            (kind, server, choice, flag, seconds) => new Step(kind, server, choice, flag, seconds));

    [Fact]
    public void Counts_never_go_negative_over_any_sequence_of_choices_and_releases()
    {
        Gen.Select(Clusters(20, AnyMark), Steps.Array[1, 40]).Sample((c, steps) =>
        {
            var time = new FakeTimeProvider();
            var window = (long)(ReconnectDelay.TotalSeconds * time.TimestampFrequency);
            var servers = Create(c, time, window);
            var initial = servers.Select(e => e.InUse).ToArray();
            var plan = Plan(c, servers);
            var held = new List<ServerEndpoint>();
            foreach (var step in steps)
            {
                var server = servers[step.Server % servers.Length];
                switch (step.Kind)
                {
                    case 0:
                        var tried = step.Flag ? Tried(c, servers) : [];
                        if (ChooseAndCheck(plan, servers, time, window, tried, c.AllowProbe) is { } chosen)
                            held.Add(chosen);
                        break;
                    case 1 when held.Count > 0:
                        var i = step.Choice % held.Count;
                        held[i].Release();
                        held.RemoveAt(i);
                        break;
                    case 2:
                        MarkAs(server, step.Flag ? Mark.Suspected : Mark.Error, time, window);
                        break;
                    case 3:
                        server.MarkUp();
                        break;
                    case 4:
                        time.Advance(TimeSpan.FromSeconds(step.Seconds));
                        break;
                }

                for (var s = 0; s < servers.Length; s++)
                {
                    Assert.True(servers[s].InUse >= 0 && servers[s].OpenConnections >= 0, $"s{s} counts {servers[s].InUse}");
                    Assert.Equal(initial[s] + held.Count(h => h == servers[s]), servers[s].InUse);
                }
            }

            foreach (var e in held)
                e.Release();
            Assert.Equal(initial, servers.Select(e => e.InUse));
        }, iter: Cases, print: t => $"{t.Item1}\nsteps: {string.Join(" ", t.Item2.Select(s => s.ToString()))}");
    }

    /// <summary>Expected choices of each tied server per case (μ).</summary>
    const int ExpectedPerServer = 400;

    /// <summary>Relative deviation from μ allowed (δ).</summary>
    const double Tolerance = 0.4;

    /// <summary>
    /// Servers tied at the minimum of the first usable group are chosen uniformly. Each case makes k·μ choices (μ = 400, k
    /// servers tied), each released before the next, so each tied server's count X is binomial with mean μ. The Chernoff
    /// bounds P(X ≥ (1+δ)μ) ≤ exp(−δ²μ/(2+δ)) and P(X ≤ (1−δ)μ) ≤ exp(−δ²μ/2) give, for δ = 0.4, at most 2.6e−12 and
    /// 1.3e−14 per server: over the 10,000 cases of a run, at most 10 servers tied each, a correct selector fails a run with
    /// probability below 3e−7. δ = 0.4 is about 8 standard deviations (σ = √(μ(1−1/k)) ≤ 20), and still fails a selector
    /// that favours one tied server by 40% or never chooses one.
    /// </summary>
    [Fact]
    public void Servers_tied_at_the_minimum_are_chosen_uniformly()
    {
        var ties = Clusters(20, Mark.Up, Mark.Error, Mark.Suspected).Select(c => c with { AllowProbe = true }).Where(c =>
        {
            // Cases where 2 to 10 servers tie for a normal choice (a probe or a last resort changes the marks).
            var time = new FakeTimeProvider();
            var servers = Create(c, time, 1);
            var (allowed, kind) = Expected(Plan(c, servers), servers.ToDictionary(e => e, State.Of), Tried(c, servers), true, time.GetTimestamp());
            return kind == SelectionKind.Normal && allowed.Count is >= 2 and <= 10 && allowed.All(e => e.DownUntil == 0);
        });

        ties.Sample(c =>
        {
            var time = new FakeTimeProvider();
            var window = (long)(ReconnectDelay.TotalSeconds * time.TimestampFrequency);
            var servers = Create(c, time, window);
            var plan = Plan(c, servers);
            var tried = Tried(c, servers);
            var (allowed, _) = Expected(plan, servers.ToDictionary(e => e, State.Of), tried, true, time.GetTimestamp());
            var counts = allowed.ToDictionary(e => e, _ => 0);
            var choices = ExpectedPerServer * allowed.Count;
            for (var n = 0; n < choices; n++)
            {
                var chosen = ServerSelector.SelectAndReserve(plan, time, window, tried.Count == 0 ? null : tried, out var kind);
                Assert.NotNull(chosen);
                Assert.Equal(SelectionKind.Normal, kind);
                Assert.True(counts.ContainsKey(chosen), $"{chosen} chosen, not one of the tied {string.Join(",", allowed)}");
                counts[chosen]++;
                chosen.Release();
            }

            foreach (var (server, count) in counts)
            {
                Assert.True(Math.Abs(count - ExpectedPerServer) < Tolerance * ExpectedPerServer,
                    $"{server} chosen {count} times in {choices}, expected {ExpectedPerServer} ± {Tolerance * ExpectedPerServer}");
            }
        }, iter: Cases, print: c => c.ToString());
    }
}
