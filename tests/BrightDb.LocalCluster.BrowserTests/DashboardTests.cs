using System.Diagnostics;
using System.Text.Json;
using BrightDb.Npgsql;
using Microsoft.Playwright;
using Npgsql;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace BrightDb.LocalCluster.BrowserTests;

/// <summary>
/// The live dashboard read from a real browser's DOM while the driver holds connections: the tutorial's 10/10/10 and
/// 15/15/0, a paused node shown as paused within 3 seconds, and the same page from a node's rpcz server.
/// </summary>
public sealed class DashboardTests(DashboardFixture fixture, ITestOutputHelper output) : IClassFixture<DashboardFixture>
{
    /// <summary>The page polls every second and the cluster is sampled twice a second: a change shows within 2 s; 5 s
    /// leaves room for the servers to end the backends of connections just closed.</summary>
    static readonly LocatorAssertionsToHaveTextOptions Settled = new() { Timeout = 5_000 };

    LocalCluster Cluster => fixture.Cluster;

    string Seed => $"Host={Cluster.Node(1).Host};Port={Cluster.Node(1).Port};Database=bigmath;Username=bigmath;Password={Cluster.Password};Pooling=false;Hedged Open Delay=10000";

    static ILocator Count(IPage page, int node) => page.Locator($".node[data-node='{node}'] .count");

    static ILocator AppCount(IPage page, int node, string application) =>
        page.Locator($".node[data-node='{node}'] .apps li[data-application='{application}'] .app-count");

    async Task ExpectConnectionsAsync(IPage page, string application, params int[] perNode)
    {
        for (var node = 1; node <= perNode.Length; node++)
        {
            await Expect(Count(page, node)).ToHaveTextAsync(perNode[node - 1].ToString(System.Globalization.CultureInfo.InvariantCulture), Settled);
            if (perNode[node - 1] > 0)
            {
                await Expect(AppCount(page, node, application)).ToHaveTextAsync(perNode[node - 1].ToString(System.Globalization.CultureInfo.InvariantCulture), Settled);
            }
            else
            {
                await Expect(AppCount(page, node, application)).ToHaveCountAsync(0);
            }
        }

        await Expect(page.Locator("#total")).ToHaveTextAsync(perNode.Sum().ToString(System.Globalization.CultureInfo.InvariantCulture), Settled);
    }

    static async Task<List<NpgsqlConnection>> HoldAsync(BrightDbDataSource dataSource, int count)
    {
        var connections = new List<NpgsqlConnection>();
        for (var i = 0; i < count; i++)
        {
            var connection = await dataSource.OpenConnectionAsync();
            await using (var command = new NpgsqlCommand("SELECT 1", connection))
            {
                Assert.Equal(1, await command.ExecuteScalarAsync());
            }

            connections.Add(connection);
        }

        return connections;
    }

    [BrowserFact]
    public async Task Thirty_balanced_connections_show_as_ten_per_node_then_fifteen_fifteen_zero_with_the_topology_key()
    {
        var page = await fixture.NewPageAsync(fixture.DashboardUrl);
        await Expect(page.Locator(".node")).ToHaveCountAsync(3);
        await Expect(page.Locator(".node[data-node='3'] .placement")).ToHaveTextAsync("aws.us-west.us-west-2b · primary");

        await using (var uniform = BrightDbDataSource.Create($"{Seed};Load Balance Hosts=true;Application Name=dashboard-uniform"))
        {
            var held = await HoldAsync(uniform, 30);
            await ExpectConnectionsAsync(page, "dashboard-uniform", 10, 10, 10);
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = ScreenshotPath("dashboard.png"), FullPage = true });
            foreach (var connection in held)
            {
                await connection.DisposeAsync();
            }
        }

        await using var zoned = BrightDbDataSource.Create($"{Seed};Load Balance Hosts=true;Topology Keys=aws.us-west.us-west-2a;Application Name=dashboard-zone");
        var zone = await HoldAsync(zoned, 30);
        await ExpectConnectionsAsync(page, "dashboard-zone", 15, 15, 0);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = ScreenshotPath("dashboard-topology-key.png"), FullPage = true });
        foreach (var connection in zone)
        {
            await connection.DisposeAsync();
        }

        await ExpectConnectionsAsync(page, "dashboard-zone", 0, 0, 0);
    }

    [BrowserFact]
    public async Task A_paused_node_shows_as_paused_within_three_seconds_and_a_killed_one_as_killed_with_no_connections()
    {
        var page = await fixture.NewPageAsync(fixture.DashboardUrl);
        var state = page.Locator(".node[data-node='3'] .state");
        await Expect(state).ToHaveTextAsync("running", Settled);
        try
        {
            await Cluster.PauseNodeAsync(3);
            var watch = Stopwatch.StartNew();
            await Expect(state).ToHaveTextAsync("paused", new() { Timeout = 3_000 });
            output.WriteLine($"paused shown {watch.ElapsedMilliseconds} ms after the pause");
            await Expect(Count(page, 3)).ToHaveTextAsync("?");
            await Expect(page.Locator(".node[data-node='1'] .state")).ToHaveTextAsync("running");
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = ScreenshotPath("dashboard-paused.png"), FullPage = true });
        }
        finally
        {
            await Cluster.ResumeNodeAsync(3);
        }

        await Expect(state).ToHaveTextAsync("running", Settled);

        await using var held = new NpgsqlConnection($"Host={Cluster.Node(3).Host};Port={Cluster.Node(3).Port};Database=bigmath;Username=bigmath;Password={Cluster.Password};Pooling=false;Application Name=dashboard-kill");
        await held.OpenAsync();
        await Expect(AppCount(page, 3, "dashboard-kill")).ToHaveTextAsync("1", Settled);
        try
        {
            await Cluster.KillNodeAsync(3);
            await Expect(state).ToHaveTextAsync("killed", new() { Timeout = 3_000 });
            await Expect(Count(page, 3)).ToHaveTextAsync("0");
            await Expect(AppCount(page, 3, "dashboard-kill")).ToHaveCountAsync(0);
        }
        finally
        {
            await Cluster.StartNodeAsync(3);
        }

        await Expect(state).ToHaveTextAsync("running", Settled);
    }

    [BrowserFact]
    public async Task Every_nodes_rpcz_server_shows_the_dashboard_at_its_root_and_its_rpcz_page_as_html_to_a_browser()
    {
        var node2 = Cluster.Node(2);
        var connections = new List<NpgsqlConnection>();
        try
        {
            for (var i = 0; i < 4; i++)
            {
                var connection = new NpgsqlConnection($"Host={node2.Host};Port={node2.Port};Database=bigmath;Username=bigmath;Password={Cluster.Password};Pooling=false;Application Name=dashboard-rpcz");
                await connection.OpenAsync();
                connections.Add(connection);
            }

            var page = await fixture.NewPageAsync($"http://{node2.Host}:{node2.RpczPort}/");
            await Expect(page.Locator(".node")).ToHaveCountAsync(3);
            await Expect(page.Locator(".node[data-node='2'] .address")).ToHaveTextAsync(node2.Address);
            await Expect(AppCount(page, 2, "dashboard-rpcz")).ToHaveTextAsync("4", Settled);

            await page.GotoAsync($"http://{node2.Host}:{node2.RpczPort}/rpcz");
            await Expect(page.Locator("table tbody tr td:nth-child(6)", new() { HasTextString = "dashboard-rpcz" })).ToHaveCountAsync(4);

            // What scripts and the tutorial read stays JSON.
            using var http = new HttpClient();
            using var json = JsonDocument.Parse(await http.GetStringAsync(new Uri($"http://{node2.Host}:{node2.RpczPort}/rpcz")));
            Assert.Equal(4, json.RootElement.GetProperty("connections").EnumerateArray()
                .Count(c => c.GetProperty("application_name").GetString() == "dashboard-rpcz"));
        }
        finally
        {
            foreach (var connection in connections)
            {
                await connection.DisposeAsync();
            }
        }
    }

    static string ScreenshotPath(string name)
    {
        var directory = Environment.GetEnvironmentVariable("BRIGHTDB_SCREENSHOT_DIR") is { Length: > 0 } chosen
            ? chosen
            : Path.Combine(AppContext.BaseDirectory, "screenshots");
        Directory.CreateDirectory(directory);
        return Path.Combine(directory, name);
    }
}
