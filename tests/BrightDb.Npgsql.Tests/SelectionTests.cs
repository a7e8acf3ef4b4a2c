using BrightDb.Npgsql.Balancing;
using Microsoft.Extensions.Time.Testing;
using static BrightDb.Npgsql.Tests.TestSupport;

namespace BrightDb.Npgsql.Tests;

public class SelectionTests
{
    static readonly TimeSpan Delay = TimeSpan.FromSeconds(5);
    readonly FakeTimeProvider _time = new();

    long Window => (long)(Delay.TotalSeconds * _time.TimestampFrequency);

    void MarkDown(ServerEndpoint e) => e.MarkDown(_time.GetTimestamp() + Window, "test");

    static ServerEndpoint[] ThreeZones() =>
        [Endpoint("a", placement: A), Endpoint("b", placement: B), Endpoint("c", placement: C)];

    /// <summary>Picks <paramref name="n"/> connections and holds them all; returns the count per server.</summary>
    int[] Pick(SelectionPlan plan, ServerEndpoint[] servers, int n)
    {
        for (var i = 0; i < n; i++)
        {
            var chosen = ServerSelector.SelectAndReserve(plan, _time, Window, null, out var kind);
            Assert.NotNull(chosen);
            Assert.Equal(SelectionKind.Normal, kind);
        }

        return servers.Select(s => s.InUse).ToArray();
    }

    [Theory]
    [InlineData("", 4, 4, 4)]
    [InlineData("2a,2b:1,2c:2", 6, 6, 0)]
    [InlineData("2a:1,2b:2,2c:3", 12, 0, 0)]
    [InlineData("BAD.BAD.BAD:1,2b:2,2c:2", 0, 6, 6)]
    public void Topology_levels_on_three_zones(string keys, int a, int b, int c)
    {
        var servers = ThreeZones();
        var plan = SelectionPlan.Build(servers, LoadBalanceMode.Any, Keys(ExpandKeys(keys)), topologyKeysOnly: false);
        Assert.Equal([a, b, c], Pick(plan, servers, 12));
    }

    [Theory]
    [InlineData("2a,2c", "a", false, 0, 0, 12)]
    [InlineData("", "ab", false, 0, 0, 12)]
    public void Fallback_when_preferred_servers_are_down(string keys, string down, bool keysOnly, int a, int b, int c)
    {
        var servers = ThreeZones();
        foreach (var s in servers.Where(s => down.Contains(s.Address.Host, StringComparison.Ordinal)))
            MarkDown(s);
        var plan = SelectionPlan.Build(servers, LoadBalanceMode.Any, Keys(ExpandKeys(keys)), keysOnly);
        Assert.Equal([a, b, c], Pick(plan, servers, 12));
    }

    [Theory]
    [InlineData("2a")]
    public void Topology_keys_only_gives_nothing_when_the_matching_servers_are_down(string keys)
    {
        var servers = ThreeZones();
        var plan = SelectionPlan.Build(servers, LoadBalanceMode.Any, Keys(ExpandKeys(keys)), topologyKeysOnly: true);
        foreach (var s in plan.Candidates)
            MarkDown(s);
        Assert.Null(plan.EmptyReason);
        Assert.Null(ServerSelector.SelectAndReserve(plan, _time, Window, null, out _));
        Assert.All(servers, s => Assert.Equal(0, s.InUse));
    }

    [Theory]
    [InlineData("aws.us-east.*:1,gcp.x.y:2")]
    public void Topology_keys_only_with_no_match_has_no_candidates_and_says_why(string keys)
    {
        var servers = ThreeZones();
        var plan = SelectionPlan.Build(servers, LoadBalanceMode.Any, Keys(keys), topologyKeysOnly: true);
        Assert.Empty(plan.Groups);
        Assert.Contains("Topology Keys", plan.EmptyReason, StringComparison.Ordinal);
        Assert.Contains("Fallback To Topology Keys Only", plan.EmptyReason, StringComparison.Ordinal);
        Assert.Null(ServerSelector.SelectAndReserve(plan, _time, Window, null, out _));
    }

    [Fact]
    public void Groups_hold_each_endpoint_once_in_level_order()
    {
        var servers = ThreeZones().Append(Endpoint("d", placement: null)).ToArray();
        var plan = SelectionPlan.Build(servers, LoadBalanceMode.Any, Keys(ExpandKeys("2c:3,2b:1,aws.us-west.*:2")), false);
        Assert.Equal(["b", "ac", "d"], plan.Groups.Select(g => string.Concat(g.Select(s => s.Address.Host))));
        Assert.Equal(servers.Length, plan.Candidates.Distinct().Count());
    }

    static ServerEndpoint[] Mixed() =>
    [
        Endpoint("p1", ServerNodeType.Primary, A), Endpoint("p2", ServerNodeType.Primary, B),
        Endpoint("r1", ServerNodeType.ReadReplica, A), Endpoint("r2", ServerNodeType.ReadReplica, C),
    ];

    [Theory]
    [InlineData(LoadBalanceMode.Disabled, "", 3, 3, 3, 3)]
    [InlineData(LoadBalanceMode.PreferReadReplica, "r2", 0, 0, 12, 0)]
    public void Node_types(LoadBalanceMode mode, string down, int p1, int p2, int r1, int r2)
    {
        var servers = Mixed();
        foreach (var s in servers.Where(s => down.Split(',').Contains(s.Address.Host)))
            MarkDown(s);
        var plan = SelectionPlan.Build(servers, mode, [], false);
        Assert.Equal([p1, p2, r1, r2], Pick(plan, servers, 12));
    }

    [Fact]
    public void Prefer_primary_with_topology_keys_tries_every_primary_before_any_read_replica()
    {
        var servers = Mixed();
        MarkDown(servers[1]); // p2, the preferred placement
        var plan = SelectionPlan.Build(servers, LoadBalanceMode.PreferPrimary, Keys(ExpandKeys("2b")), false);
        Assert.Equal([12, 0, 0, 0], Pick(plan, servers, 12));
    }

    [Fact]
    public void Fewest_connections_wins()
    {
        var servers = ThreeZones();
        servers[0].InUse = 5;
        servers[1].InUse = 2;
        servers[2].InUse = 7;
        var plan = SelectionPlan.Build(servers, LoadBalanceMode.Any, [], false);
        Assert.Equal([5, 5, 7], Pick(plan, servers, 3));
        Assert.Equal([7, 7, 7], Pick(plan, servers, 4));
        Assert.Equal([8, 8, 8], Pick(plan, servers, 3));
    }

    [Fact]
    public void Down_server_is_skipped_until_its_delay_is_over_then_probed_once()
    {
        var servers = ThreeZones();
        var plan = SelectionPlan.Build(servers, LoadBalanceMode.Any, Keys(ExpandKeys("2a:1,2b:2")), false);
        var a = servers[0];
        MarkDown(a);

        Assert.Same(servers[1], Select(out var probe));
        Assert.False(probe);
        _time.Advance(Delay - TimeSpan.FromMilliseconds(1));
        Assert.Same(servers[1], Select(out probe));
        Assert.False(probe);

        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Same(a, Select(out probe));
        Assert.True(probe);
        Assert.Equal(1, a.InUse);

        // While the probe runs, others skip the server, even once the delay would be over again.
        Assert.Same(servers[1], Select(out probe));
        Assert.False(probe);
        _time.Advance(Delay - TimeSpan.FromMilliseconds(1));
        Assert.Same(servers[1], Select(out probe));

        // The probe failed: down again; the next probe comes after the delay.
        a.Release();
        MarkDown(a);
        _time.Advance(Delay);
        Assert.Same(a, Select(out probe));
        Assert.True(probe);

        // The probe succeeded: up, chosen normally.
        Assert.True(a.MarkUp());
        Assert.False(a.MarkUp());
        Assert.Same(a, Select(out probe));
        Assert.False(probe);
        Assert.Equal(2, a.InUse);

        ServerEndpoint? Select(out bool isProbe)
        {
            var chosen = ServerSelector.SelectAndReserve(plan, _time, Window, null, out var kind);
            isProbe = kind == SelectionKind.Probe;
            return chosen;
        }
    }

    [Fact]
    public void Excluded_servers_are_skipped_down_to_the_next_group()
    {
        var servers = ThreeZones();
        var plan = SelectionPlan.Build(servers, LoadBalanceMode.Any, Keys(ExpandKeys("2a,2b:2")), false);
        var tried = new HashSet<ServerEndpoint> { servers[0] };
        Assert.Same(servers[1], ServerSelector.SelectAndReserve(plan, _time, Window, tried, out _));
        tried.Add(servers[1]);
        Assert.Same(servers[2], ServerSelector.SelectAndReserve(plan, _time, Window, tried, out _));
        tried.Add(servers[2]);
        Assert.Null(ServerSelector.SelectAndReserve(plan, _time, Window, tried, out _));
        Assert.Equal([0, 1, 1], servers.Select(s => s.InUse));
    }

    [Fact]
    public void Release_undoes_a_reservation()
    {
        var servers = ThreeZones();
        var plan = SelectionPlan.Build(servers, LoadBalanceMode.Any, [], false);
        var chosen = ServerSelector.SelectAndReserve(plan, _time, Window, null, out _)!;
        Assert.Equal(1, chosen.InUse);
        chosen.Release();
        Assert.All(servers, s => Assert.Equal(0, s.InUse));
    }

    [Fact]
    public void Servers_marked_down_by_an_error_are_never_a_last_resort()
    {
        var servers = ThreeZones();
        var plan = SelectionPlan.Build(servers, LoadBalanceMode.Any, [], false);
        MarkDown(servers[0]);
        MarkDown(servers[1]);
        servers[2].MarkDown(_time.GetTimestamp() + Window, "slow", suspicion: true);
        // An error after a suspicion makes the mark an error mark.
        servers[2].MarkDown(_time.GetTimestamp() + Window, "refused");
        Assert.False(servers[2].OnlySuspected);
        Assert.Null(ServerSelector.SelectAndReserve(plan, _time, Window, null, out _));
        Assert.All(servers, s => Assert.Equal(0, s.InUse));
    }

    [Fact]
    public void A_suspicion_does_not_soften_an_error_mark_and_coming_back_clears_both()
    {
        var server = ThreeZones()[0];
        server.MarkDown(_time.GetTimestamp() + Window, "refused");
        server.MarkDown(_time.GetTimestamp() + Window, "slow", suspicion: true);
        Assert.False(server.OnlySuspected);
        Assert.True(server.MarkUp());
        server.MarkDown(_time.GetTimestamp() + Window, "slow", suspicion: true);
        Assert.True(server.OnlySuspected);
        Assert.True(server.MarkUp());
        Assert.False(server.OnlySuspected);
    }

    [Fact]
    public void A_hedge_never_picks_the_probe_of_a_server_marked_down()
    {
        // 2a and 2b are hung; 2a's delay is over. A normal open may probe 2a; a hedge from 2b must go to 2c.
        var servers = ThreeZones();
        var plan = SelectionPlan.Build(servers, LoadBalanceMode.Any, Keys(ExpandKeys("2a:1,2b:2,2c:3")), false);
        MarkDown(servers[0]);
        _time.Advance(Delay + TimeSpan.FromSeconds(1));
        MarkDown(servers[1]);
        var tried = new HashSet<ServerEndpoint> { servers[1] };

        Assert.Same(servers[2], ServerSelector.SelectAndReserve(plan, _time, Window, tried, out var kind, allowProbe: false));
        Assert.Equal(SelectionKind.Normal, kind);
        Assert.Same(servers[0], ServerSelector.SelectAndReserve(plan, _time, Window, tried, out kind));
        Assert.Equal(SelectionKind.Probe, kind);
    }

    [Fact]
    public void A_server_whose_pool_is_full_is_passed_over_while_another_has_room()
    {
        // Level 1 (2a) is full at a capacity of 2: the open goes to level 2 rather than wait for a slot at 2a.
        var servers = ThreeZones();
        var plan = SelectionPlan.Build(servers, LoadBalanceMode.Any, Keys(ExpandKeys("2a:1,2b:2")), false, capacity: 2);
        Assert.Equal([2, 0, 0], Pick(plan, servers, 2));
        Assert.Equal([2, 2, 0], Pick(plan, servers, 2));
        Assert.Equal([2, 2, 2], Pick(plan, servers, 2));

        // Every server full: the least loaded of them (the open then waits for a slot there).
        servers[1].Release();
        Assert.Same(servers[1], ServerSelector.SelectAndReserve(plan, _time, Window, null, out _));
        Assert.NotNull(ServerSelector.SelectAndReserve(plan, _time, Window, null, out _));
        Assert.Equal(7, servers.Sum(s => s.InUse));
    }
}
