using BrightDb.Npgsql.Balancing;
using BrightDb.Npgsql.ConnectionStrings;
using Microsoft.Extensions.Time.Testing;
using static BrightDb.Npgsql.Tests.TestSupport;

namespace BrightDb.Npgsql.Tests;

/// <summary>The weighing rule of <see cref="ClusterWideLoad"/>: what the servers report, brought up to date by this data source's own counts.</summary>
public class ClusterWideLoadTests
{
    readonly FakeTimeProvider _time = new();

    static ServerEndpoint[] Three() => [Endpoint("a", placement: A), Endpoint("b", placement: B), Endpoint("c", placement: C)];

    static SelectionPlan Plan(ServerEndpoint[] servers) => SelectionPlan.Build(servers, LoadBalanceMode.Any, [], topologyKeysOnly: false);

    ServerEndpoint Pick(SelectionPlan plan)
    {
        var chosen = ServerSelector.SelectAndReserve(plan, _time, 1, null, out var kind);
        Assert.NotNull(chosen);
        Assert.Equal(SelectionKind.Normal, kind);
        return chosen;
    }

    [Theory]
    [InlineData(5, 2, 3)]
    [InlineData(1, 3, 0)]
    [InlineData(0, 0, 0)]
    [InlineData(7, -1, 7)]
    public void Others_are_the_report_less_own_connections(int reported, int own, int expected) =>
        Assert.Equal(expected, ClusterWideLoad.Others(reported, own));

    [Theory]
    [InlineData(0, 0, 0, 0)]
    [InlineData(3, 3, 4, 0)]
    [InlineData(10, 10, 10, 1)]
    [InlineData(100, 100, 95, 9)]
    public void Band_is_a_tenth_of_the_mean_of_the_others(int a, int b, int c, int expected)
    {
        var servers = Three();
        (servers[0].Others, servers[1].Others, servers[2].Others) = (a, b, c);
        Assert.Equal(expected, ClusterWideLoad.Band(servers));
    }

    [Fact]
    public void When_every_server_reports_0_nothing_is_weighed_and_selection_is_the_data_sources_own()
    {
        var servers = Three();
        (servers[0].InUse, servers[1].InUse, servers[2].InUse) = (2, 0, 1);
        ClusterWideLoad.Weigh(servers, [0, 0, 0], () => throw new InvalidOperationException("own counts read although nothing was reported"));
        Assert.All(servers, s => Assert.Equal(0, s.Others));
        var plan = Plan(servers);
        Assert.All(plan.Bands, band => Assert.Equal(0, band));
        Assert.Same(servers[1], Pick(plan));
        Assert.Contains(Pick(plan), servers[1..]);
        Assert.Same(servers[2].InUse == 1 ? servers[2] : servers[1], Pick(plan));
        Assert.Equal([2, 2, 2], servers.Select(s => s.InUse));
    }

    [Fact]
    public void A_server_the_report_could_not_count_carries_the_mean_of_the_others()
    {
        var servers = Three();
        ClusterWideLoad.Weigh(servers, [4, ClusterWideLoad.Unknown, 2], () => _ => 0);
        Assert.Equal([4, 3, 2], servers.Select(s => s.Others));
    }

    [Fact]
    public void A_snapshot_without_counts_clears_the_previous_reports()
    {
        var servers = Three();
        ClusterWideLoad.Weigh(servers, [4, 0, 0], () => _ => 0);
        Assert.Equal(4, servers[0].Others);
        ClusterWideLoad.Weigh(servers, [], () => _ => 0);
        Assert.All(servers, s => Assert.Equal(0, s.Others));
    }

    [Fact]
    public void Reported_connections_steer_opens_to_the_servers_the_cluster_loads_least()
    {
        var servers = Three();
        ClusterWideLoad.Weigh(servers, [5, 0, 2], () => _ => 0);
        Assert.Equal([5, 0, 2], servers.Select(s => s.Others));
        var plan = Plan(servers);
        for (var i = 0; i < 7; i++)
            Pick(plan);
        // Seven opens fill b and c up to a: 5/4/5 or 5/5/4 with the others' connections, a never chosen.
        Assert.Equal(0, servers[0].InUse);
        var loads = servers.Select(s => s.InUse + s.Others).ToArray();
        Assert.True(loads.Max() - loads.Min() <= 1, string.Join('/', loads));
    }

    [Fact]
    public void Own_connections_at_the_report_are_not_counted_twice()
    {
        var servers = Three();
        // This data source holds 3 on a (pooled: idle ones included) and the report saw them: no others there.
        ClusterWideLoad.Weigh(servers, [3, 2, 2], () => s => s == servers[0] ? 3 : 0);
        Assert.Equal([0, 2, 2], servers.Select(s => s.Others));
    }

    /// <summary>
    /// Ten processes started one after another, each reading true counts with a new data source and opening one connection:
    /// the nodes end even, every time.
    /// </summary>
    [Fact]
    public void Processes_starting_one_after_another_end_even()
    {
        for (var run = 0; run < 200; run++)
        {
            var held = new int[3];
            for (var process = 0; process < 10; process++)
            {
                var servers = Three();
                ClusterWideLoad.Weigh(servers, [.. held], () => _ => 0);
                var chosen = Pick(Plan(servers));
                held[Array.IndexOf(servers, chosen)]++;
            }

            Assert.True(held.Max() - held.Min() <= 1, $"run {run}: {string.Join('/', held)}");
        }
    }

    /// <summary>
    /// The herd: many processes read the same report at once. Where the counts are large and close, the servers within the
    /// band are equal and each process picks among them at random, so no server takes the whole herd.
    /// </summary>
    [Fact]
    public void Processes_reading_the_same_report_do_not_all_pick_its_least_loaded_server()
    {
        var picked = new int[3];
        for (var process = 0; process < 3000; process++)
        {
            var servers = Three();
            ClusterWideLoad.Weigh(servers, [100, 100, 95], () => _ => 0);
            picked[Array.IndexOf(servers, Pick(Plan(servers)))]++;
        }

        Assert.All(picked, n => Assert.InRange(n, 800, 1200));
    }

    /// <summary>
    /// The herd with small counts: processes that read 1/1/0 while others connect do not all take c. Each takes the lesser
    /// of two servers drawn from those within one of the least: c unless both draws are a and b, so c two times in three
    /// and a and b one time in six each (3000 draws: c 2000 ± 26, a and b 500 ± 20 as one standard deviation; the bounds
    /// are about six of them).
    /// </summary>
    [Fact]
    public void Processes_reading_the_same_small_report_take_its_least_loaded_server_two_times_in_three()
    {
        var picked = new int[3];
        for (var process = 0; process < 3000; process++)
        {
            var servers = Three();
            ClusterWideLoad.Weigh(servers, [1, 1, 0], () => _ => 0);
            picked[Array.IndexOf(servers, Pick(Plan(servers)))]++;
        }

        Assert.InRange(picked[2], 1850, 2150);
        Assert.InRange(picked[0], 380, 620);
        Assert.InRange(picked[1], 380, 620);
    }

    /// <summary>A server two above the least is never taken: only those within one of it are drawn.</summary>
    [Fact]
    public void A_server_two_above_the_least_is_never_taken()
    {
        for (var process = 0; process < 1000; process++)
        {
            var servers = Three();
            ClusterWideLoad.Weigh(servers, [2, 1, 0], () => _ => 0);
            Assert.NotSame(servers[0], Pick(Plan(servers)));
        }
    }

    [Fact]
    public void Within_one_data_source_the_band_still_lets_its_own_opens_even_out()
    {
        var servers = Three();
        ClusterWideLoad.Weigh(servers, [100, 100, 100], () => _ => 0);
        var plan = Plan(servers);
        Assert.Equal(10, plan.Bands[0]);
        for (var i = 0; i < 300; i++)
            Pick(plan);
        // Random within the band, never beyond it: a server is chosen only while at most the band above the least, so none
        // ends more than the band and the one open above another.
        var loads = servers.Select(s => s.InUse + s.Others).ToArray();
        Assert.True(loads.Max() - loads.Min() <= 11, string.Join('/', loads));
    }
}
