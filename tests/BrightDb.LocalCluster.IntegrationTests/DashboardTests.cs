using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.RegularExpressions;
using BmDevCtl;
using BrightDb.LocalCluster.Dashboard;
using Npgsql;

namespace BrightDb.LocalCluster.IntegrationTests;

/// <summary>The tutorial's cluster with rpcz served in this process, for the dashboard's data and pages.</summary>
public sealed class RpczThreeNodeFixture : ClusterFixture
{
    protected override LocalClusterOptions Options => new()
    {
        Nodes = [.. Db.SeedPlacements.Select(p => new NodeSpec(Placement.Parse(p)))],
        StartRpcz = true,
    };
}

/// <summary>
/// The dashboard without a browser: <c>bm-dev-ctl dashboard</c>'s page and JSON, the same from a node's rpcz server, the rpcz
/// page as HTML only when a browser asks, and the history a node keeps. The browser reads the page in
/// BrightDb.LocalCluster.BrowserTests.
/// </summary>
public sealed partial class DashboardTests(RpczThreeNodeFixture fixture) : IClassFixture<RpczThreeNodeFixture>
{
    LocalCluster Cluster => fixture.Cluster;

    static readonly TimeSpan Settle = TimeSpan.FromSeconds(10);

    /// <summary>Reads <c>api/cluster</c> until <paramref name="done"/> holds (the page polls it the same way), or fails with the last view.</summary>
    static async Task<ClusterView> PollAsync(HttpClient http, string baseUrl, Func<ClusterView, bool> done)
    {
        var deadline = DateTime.UtcNow + Settle;
        while (true)
        {
            var view = DashboardJson.Deserialize(await http.GetStringAsync(new Uri(baseUrl + "api/cluster")));
            if (done(view))
            {
                return view;
            }

            Assert.True(DateTime.UtcNow < deadline, $"the dashboard did not show it within {Settle.TotalSeconds} s: {DashboardJson.Serialize(view)}");
            await Task.Delay(200);
        }
    }

    static NodeView Node(ClusterView view, int index) => Assert.Single(view.Nodes, n => n.Index == index);

    static async Task<List<NpgsqlConnection>> OpenAsync(LocalCluster cluster, int node, int count, string application)
    {
        var connections = new List<NpgsqlConnection>();
        for (var i = 0; i < count; i++)
        {
            var connection = Db.Connection(cluster.ConnectionString(node), applicationName: application);
            await connection.OpenAsync();
            connections.Add(connection);
        }

        return connections;
    }

    [Fact]
    public async Task The_dashboard_command_serves_the_page_and_each_nodes_connections_by_application_and_state()
    {
        using var stop = new CancellationTokenSource();
        using var output = new StringWriter();
        var cli = TextWriter.Synchronized(output);
        var dashboard = Cli.RunAsync(["dashboard", "--base_dir", Cluster.BaseDirectory, "--port", "0"], cli, cli, stop.Token);
        int exitCode;
        try
        {
            string url;
            var deadline = DateTime.UtcNow + Settle;
            while (true)
            {
                string printed;
                lock (cli)
                {
                    printed = output.ToString();
                }

                if (Address().Match(printed) is { Success: true } match)
                {
                    url = match.Value;
                    break;
                }

                Assert.False(dashboard.IsCompleted, printed);
                Assert.True(DateTime.UtcNow < deadline, $"no address printed: {printed}");
                await Task.Delay(50);
            }

            using var http = new HttpClient();
            var page = await http.GetStringAsync(new Uri(url));
            Assert.StartsWith("<!DOCTYPE html>", page, StringComparison.Ordinal);
            Assert.Contains("fetch(\"api/cluster\"", page, StringComparison.Ordinal);

            var held = new List<NpgsqlConnection>();
            try
            {
                held.AddRange(await OpenAsync(Cluster, 2, 3, "dash-a"));
                held.AddRange(await OpenAsync(Cluster, 2, 2, "dash-b"));
                var view = await PollAsync(http, url, v => v.Nodes.Count == 3 && Node(v, 2).Connections == 5);
                Assert.Equal([new ApplicationConnections("dash-a", 3), new ApplicationConnections("dash-b", 2)], Node(view, 2).Applications);
                Assert.Equal(["running", "running", "running"], view.Nodes.Select(n => n.State));
                Assert.Equal("127.0." + Cluster.AddressBlock + ".3:2521", Node(view, 3).Address);
                Assert.Equal("aws.us-west.us-west-2b", Node(view, 3).Placement);
                Assert.Equal("primary", Node(view, 3).Type);
                Assert.Equal(view.Nodes.Sum(n => n.Connections ?? 0), view.TotalConnections);
                Assert.Equal(5, Node(view, 2).History[^1]);
                Assert.All(view.Nodes, n => Assert.Equal(view.Nodes[0].History.Count, n.History.Count));
            }
            finally
            {
                foreach (var connection in held)
                {
                    await connection.DisposeAsync();
                }
            }

            await Cluster.StopNodeAsync(1);
            try
            {
                var stopped = await PollAsync(http, url, v => Node(v, 1).State == "stopped");
                Assert.Equal(0, Node(stopped, 1).Connections);
            }
            finally
            {
                await Cluster.StartNodeAsync(1);
            }

            var after = await PollAsync(http, url, v => Node(v, 1).State == "running" && Node(v, 1).Connections == 0 && Node(v, 2).Connections == 0);
            // Node 2's history kept the five connections, then their end; node 1's, its stop (0).
            var history2 = Node(after, 2).History;
            Assert.Contains(5, history2);
            Assert.Equal(0, history2[^1]);
            Assert.True(history2.ToList().LastIndexOf(5) < history2.Count - 1);

            // A second dashboard on the same port says what to do.
            var port = new Uri(url).Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var (code, _, error) = await CliTestsRun(["dashboard", "--base_dir", Cluster.BaseDirectory, "--port", port]);
            Assert.Equal(1, code);
            Assert.Contains("Choose another port with --port", error, StringComparison.Ordinal);
        }
        finally
        {
            await stop.CancelAsync();
            exitCode = await dashboard;
        }

        Assert.Equal(0, exitCode);
    }

    static async Task<(int Code, string Output, string Error)> CliTestsRun(string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await Cli.RunAsync(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public async Task Every_nodes_rpcz_server_serves_the_dashboard_and_its_rpcz_as_json_unless_a_browser_asks()
    {
        var node = Cluster.Node(3);
        var root = $"http://{node.Host}:{node.RpczPort}/";
        using var http = new HttpClient();
        var held = await OpenAsync(Cluster, 3, 2, "dash-rpcz");
        try
        {
            Assert.StartsWith("<!DOCTYPE html>", await http.GetStringAsync(new Uri(root)), StringComparison.Ordinal);
            var view = await PollAsync(http, root, v => v.Nodes.Count == 3 && Node(v, 3).Applications.Contains(new ApplicationConnections("dash-rpcz", 2)));
            Assert.Equal(3, view.Nodes.Count);

            // Scripts (and the tutorial) get JSON as before.
            using (var json = JsonDocument.Parse(await http.GetStringAsync(new Uri(root + "rpcz"))))
            {
                Assert.Equal(2, json.RootElement.GetProperty("connections").EnumerateArray().Count(c => c.GetProperty("application_name").GetString() == "dash-rpcz"));
            }

            // A browser gets a table of the same connections; ?format=json keeps JSON for it.
            using var asBrowser = new HttpRequestMessage(HttpMethod.Get, new Uri(root + "rpcz"));
            asBrowser.Headers.Accept.ParseAdd("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8");
            using var html = await http.SendAsync(asBrowser);
            Assert.Equal("text/html", html.Content.Headers.ContentType?.MediaType);
            var table = await html.Content.ReadAsStringAsync();
            Assert.Equal(2, Regex.Count(table, "<td>dash-rpcz</td>"));

            using var forced = new HttpRequestMessage(HttpMethod.Get, new Uri(root + "rpcz?format=json"));
            forced.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/html"));
            using var forcedResponse = await http.SendAsync(forced);
            Assert.Equal("application/json", forcedResponse.Content.Headers.ContentType?.MediaType);
        }
        finally
        {
            foreach (var connection in held)
            {
                await connection.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task A_nodes_history_keeps_five_minutes_of_samples_and_a_paused_node_is_unknown_not_zero()
    {
        var nodes = Cluster.Nodes;
        // One sample a minute: five minutes are five samples. The nodes are read as stopped or paused, so no server is asked.
        var states = new[] { NodeState.Stopped, NodeState.Killed, NodeState.Paused };
        var copies = nodes.Select((n, i) => new LocalNode(n.Index, n.Host, n.Port, n.RpczPort, n.Placement, n.Type, n.Uuid, n.Directory) { State = states[i] }).ToList();
        await using var monitor = new ClusterMonitor(_ => ValueTask.FromResult<IReadOnlyList<LocalNode>?>(copies), TimeSpan.FromMinutes(1));
        ClusterView view = monitor.View;
        for (var i = 0; i < 8; i++)
        {
            view = await monitor.SampleAsync();
        }

        Assert.Equal(["stopped", "killed", "paused"], view.Nodes.Select(n => n.State));
        Assert.Equal([0, 0, null], view.Nodes.Select(n => n.Connections));
        Assert.All(view.Nodes, n => Assert.Equal(5, n.History.Count));
        Assert.Equal([null, null, null, null, null], view.Nodes[2].History);
        Assert.Equal(0, view.TotalConnections);

        Assert.True(DashboardPage.PrefersHtml("text/html,application/xhtml+xml,*/*;q=0.8"));
        Assert.False(DashboardPage.PrefersHtml("application/json, text/html"));
        Assert.False(DashboardPage.PrefersHtml("*/*"));
        Assert.False(DashboardPage.PrefersHtml(null));
    }

    [GeneratedRegex(@"http://127\.0\.0\.1:\d+/")]
    private static partial Regex Address();
}
