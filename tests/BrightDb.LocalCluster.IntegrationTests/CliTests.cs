using System.Globalization;
using System.Text.Json;
using BmDevCtl;
using BrightDb.LocalCluster.Internal;

namespace BrightDb.LocalCluster.IntegrationTests;

/// <summary>bm-dev-ctl run in-process: exit codes 0/1/2, messages, and that bad input changes nothing.</summary>
public sealed class CliBadInputTests
{
    readonly string _baseDir = Path.Combine(Path.GetTempPath(), $"cli-bad-{Guid.NewGuid():N}");

    [Theory]
    [InlineData("Unrecognized command or argument 'bogus'", "bogus")]
    [InlineData("Unrecognized command or argument '--frobnicate'", "status", "--frobnicate")]
    [InlineData("Required command was not provided", new string[0])]
    [InlineData("abc", "kill_node", "abc")]
    [InlineData("Required argument missing", "kill_node")]
    [InlineData("weird", "add_node", "--node_type", "weird")]
    [InlineData("not of the form cloud.region.zone", "create", "--rf", "3", "--placement_info", "aws.us-west")]
    [InlineData("not of the form cloud.region.zone", "create", "--placement_info", "aws.us-west.2a,")]
    [InlineData("3 placements for 2 nodes", "create", "--rf", "2", "--placement_info", "a.b.c,a.b.d,a.b.e")]
    [InlineData("less than --rf", "create", "--rf", "3", "--num_nodes", "2")]
    [InlineData("at least 1", "create", "--rf", "0")]
    [InlineData("not a TCP port", "create", "--port", "70000")]
    [InlineData("--rf expects a whole number, not 'abc'.", "create", "--rf", "abc")]
    [InlineData("--num_nodes expects a whole number, not 'x'.", "create", "--num_nodes", "x")]
    [InlineData("--address_block expects a whole number, not '1.5'.", "create", "--address_block", "1.5")]
    [InlineData("needs a value (milliseconds)", "fault", "1", "latency")]
    [InlineData("takes no value", "fault", "1", "refuse", "3")]
    [InlineData("--direction applies to latency only", "fault", "1", "stall", "--direction", "down")]
    [InlineData("--port 70000 is not a TCP port", "dashboard", "--port", "70000")]
    public async Task Usage_errors_exit_2_and_create_nothing(string expected, params string[] args)
    {
        var (code, _, error) = await CliRun.RunAsync([.. args, "--base_dir", _baseDir]);
        Assert.Equal(2, code);
        Assert.Contains(expected, error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_baseDir));
    }

    [Theory]
    [InlineData("create", "--rf", "abc")]
    [InlineData("create", "--port", "x")]
    [InlineData("kill_node", "one")]
    [InlineData("fault", "1", "latency", "slow")]
    public async Task Usage_errors_never_show_a_dotnet_type_name(params string[] args)
    {
        var (code, _, error) = await CliRun.RunAsync([.. args, "--base_dir", _baseDir]);
        Assert.Equal(2, code);
        Assert.DoesNotContain("System.", error, StringComparison.Ordinal);
        Assert.DoesNotContain("Int32", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Create_help_shows_addresses_credentials_rpcz_an_example_and_the_second_cluster_option()
    {
        var (code, output, _) = await CliRun.RunAsync("create", "--help");
        Assert.Equal(0, code);
        foreach (var expected in new[] { "127.0.0.i:2521", "password bigmath", "http://127.0.0.i:8100/rpcz", "Example: bm-dev-ctl create --rf 3", "--address_block", "second cluster" })
            Assert.Contains(expected, output, StringComparison.Ordinal);
    }

    [Fact]
    public void The_tool_has_the_packages_version()
    {
        // What bm-dev-ctl --version prints when it runs as its own program (checked on the installed tool by PackageTests).
        var tool = typeof(Cli).Assembly.GetName().Version!;
        Assert.Equal(typeof(LocalCluster).Assembly.GetName().Version, tool);
        Assert.Equal(new Version(0, 1, 0, 0), tool);
    }

    [Theory]
    [InlineData("status")]
    [InlineData("destroy")]
    [InlineData("conns")]
    [InlineData("yb_servers")]
    [InlineData("kill_node", "1")]
    [InlineData("start_node", "2")]
    [InlineData("add_node", "--placement_info", "a.b.c")]
    [InlineData("fault", "1", "hang")]
    [InlineData("dashboard", "--port", "0")]
    public async Task Commands_without_a_cluster_fail_with_exit_1(params string[] args)
    {
        var (code, _, error) = await CliRun.RunAsync([.. args, "--base_dir", _baseDir]);
        Assert.Equal(1, code);
        Assert.Contains($"No cluster in {_baseDir}", error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_baseDir));
    }

    [Fact]
    public async Task Missing_postgres_binaries_fail_with_the_install_hint()
    {
        var (code, _, error) = await CliRun.RunAsync(
            "create", "--rf", "1", "--base_dir", _baseDir, "--address_block", "251", "--pg_bin_dir", "/nonexistent/pg/bin");
        Assert.Equal(1, code);
        Assert.Contains("apt-get install -y postgresql", error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_baseDir));
    }

    [Fact]
    public async Task Help_exits_0()
    {
        var (code, output, _) = await CliRun.RunAsync("--help");
        Assert.Equal(0, code);
        foreach (var command in new[] { "create", "destroy", "status", "add_node", "remove_node", "stop_node", "start_node", "kill_node",
                     "pause_node", "resume_node", "conns", "yb_servers", "fault", "dashboard" })
        {
            Assert.Contains(command, output, StringComparison.Ordinal);
        }

        Assert.DoesNotContain("rpcz-serve", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Placements_are_reused_in_turn_when_fewer_than_the_nodes()
    {
        var specs = ClusterCommands.PlanNodes(3, 5, "a.b.c, a.b.d");
        Assert.Equal(["a.b.c", "a.b.d", "a.b.c", "a.b.d", "a.b.c"], specs.Select(s => s.Placement.ToString()));
        Assert.Equal(3, ClusterCommands.PlanNodes(3, null, "a.b.c,a.b.c,a.b.d").Count);
        Assert.Equal("cloud1.datacenter1.rack1", Assert.Single(ClusterCommands.PlanNodes(1, null, null)).Placement.ToString());
    }
}

/// <summary>The whole CLI on one cluster of its own (an address block held by this class, a private base directory).</summary>
public sealed class CliClusterTests() : CliClusterTestBase("cli")
{
    [Theory]
    [InlineData("create")]
    [InlineData("destroy")]
    [InlineData("status")]
    [InlineData("conns")]
    [InlineData("yb_servers")]
    [InlineData("add_node")]
    [InlineData("remove_node")]
    [InlineData("stop_node")]
    [InlineData("start_node")]
    [InlineData("kill_node")]
    [InlineData("pause_node")]
    [InlineData("resume_node")]
    [InlineData("fault")]
    [InlineData("dashboard")]
    public async Task Every_commands_help_has_an_example(string command)
    {
        var (code, output, _) = await CliRun.RunAsync(command, "--help");
        Assert.Equal(0, code);
        Assert.Contains($"Example: bm-dev-ctl {command}", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Create_operate_and_destroy_through_the_cli()
    {
        var created = await RunAsync("create", "--rf", "3", "--placement_info", "aws.us-west.us-west-2a,aws.us-west.us-west-2a,aws.us-west.us-west-2b");
        Assert.Equal(0, created.Code);
        Assert.Contains($"127.0.{Block}.3:2521", created.Output, StringComparison.Ordinal);
        // Progress per node: each one starting, then running.
        foreach (var i in new[] { 1, 2, 3 })
        {
            var zone = i == 3 ? "us-west-2b" : "us-west-2a";
            var starting = created.Output.IndexOf($"node {i} (127.0.{Block}.{i}:2521, aws.us-west.{zone}): starting", StringComparison.Ordinal);
            var running = created.Output.IndexOf($"node {i} (127.0.{Block}.{i}:2521, aws.us-west.{zone}): running", StringComparison.Ordinal);
            Assert.True(starting >= 0 && running > starting, $"node {i}'s progress is missing or out of order:\n{created.Output}");
        }
        Assert.Contains($"Watch it live: http://127.0.{Block}.1:8100/ in a browser (or bm-dev-ctl dashboard).", created.Output, StringComparison.Ordinal);
        var rpczPid = DetachedRpcz.RunningPid(BaseDir);
        Assert.NotNull(rpczPid);

        var again = await RunAsync("create", "--rf", "1");
        Assert.Equal(1, again.Code);
        Assert.Contains("already exists", again.Error, StringComparison.Ordinal);

        var cluster = LocalCluster.TryAttach(BaseDir)!;
        Assert.Equal(Db.Hosts(cluster, 1, 2, 3), await Db.YbServerHostsAsync(cluster, 2));
        var postmasters = cluster.Nodes.Select(n => NodeServer.PostmasterPid(n)!.Value).ToList();

        // rpcz, served by the detached process, shows a connection held open by someone else.
        await using (var held = Db.Connection(cluster.ConnectionString(3), applicationName: "held-by-test"))
        {
            await held.OpenAsync();
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            using var rpcz = JsonDocument.Parse(await http.GetStringAsync($"http://127.0.{Block}.3:8100/rpcz"));
            var connection = Assert.Single(rpcz.RootElement.GetProperty("connections").EnumerateArray());
            Assert.Equal("held-by-test", connection.GetProperty("application_name").GetString());
            Assert.Equal("client backend", connection.GetProperty("backend_type").GetString());

            var status = await RunAsync("status");
            Assert.Equal(0, status.Code);
            Assert.Matches(@$"│ 3\s+│ 127\.0\.{Block}\.3:2521\s+│ aws\.us-west\.us-west-2b\s+│ primary\s+│ running\s+│ 1 ", status.Output);
            Assert.Contains("one loopback address per node", status.Output, StringComparison.Ordinal);

            var conns = await RunAsync("conns");
            Assert.Equal(0, conns.Code);
            Assert.Matches(@$"│ 3\s+│ 127\.0\.{Block}\.3:2521\s+│ running\s+│ 1 ", conns.Output);
        }

        var yb = await RunAsync("yb_servers", "--node", "2");
        Assert.Equal(0, yb.Code);
        Assert.Contains("(3 rows)", yb.Output, StringComparison.Ordinal);
        Assert.Contains("us-west-2b", yb.Output, StringComparison.Ordinal);

        Assert.Equal(1, (await RunAsync("kill_node", "9")).Code);
        var noProxy = await RunAsync("fault", "1", "hang");
        Assert.Equal(1, noProxy.Code);
        Assert.Contains("without fault proxies", noProxy.Error, StringComparison.Ordinal);
        Assert.Equal(1, (await RunAsync("yb_servers", "--node", "9")).Code);

        await StepAsync(NodeState.Stopped, 3, "stop_node", "3");
        Assert.Equal(Db.Hosts(cluster, 1, 2), await Db.YbServerHostsAsync(cluster, 1));
        await StepAsync(NodeState.Running, 3, "start_node", "3");
        Assert.Equal(Db.Hosts(cluster, 1, 2, 3), await Db.YbServerHostsAsync(cluster, 1));
        await StepAsync(NodeState.Killed, 2, "kill_node", "2");
        Assert.Equal(Db.Hosts(cluster, 1, 2, 3), await Db.YbServerHostsAsync(cluster, 1));
        Assert.Equal(1, (await RunAsync("pause_node", "2")).Code);
        await StepAsync(NodeState.Running, 2, "start_node", "2");
        await StepAsync(NodeState.Paused, 2, "pause_node", "2");
        Assert.Contains("paused (hung)", (await RunAsync("status")).Output, StringComparison.Ordinal);
        await StepAsync(NodeState.Running, 2, "resume_node", "2");
        Assert.Equal(1, await Db.ScalarAsync<int>(cluster.ConnectionString(2), "select 1"));

        Assert.Equal(2, (await RunAsync("add_node", "--placement_info", "aws.us-east")).Code);
        var add = await RunAsync("add_node", "--placement_info", "aws.us-east.us-east-1a", "--node_type", "read_replica");
        Assert.Equal(0, add.Code);
        Assert.Contains($"Added node 4 at 127.0.{Block}.4:2521", add.Output, StringComparison.Ordinal);
        var rows = await LocalCluster.TryAttach(BaseDir)!.QueryYbServersAsync(1);
        Assert.Equal("read_replica", Assert.Single(rows, r => r.Host == $"127.0.{Block}.4").NodeType);
        using (var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) })
        {
            // The detached rpcz server follows added nodes (it re-reads the state every second).
            var deadline = DateTime.UtcNow.AddSeconds(10);
            string? page = null;
            while (page is null && DateTime.UtcNow < deadline)
            {
                try
                {
                    page = await http.GetStringAsync($"http://127.0.{Block}.4:8100/rpcz");
                }
                catch (HttpRequestException)
                {
                    await Task.Delay(200);
                }
            }

            Assert.NotNull(page);
            Assert.Contains("\"connections\"", page, StringComparison.Ordinal);
        }

        await StepAsync(NodeState.Removed, 1, "remove_node", "1");
        var current = LocalCluster.TryAttach(BaseDir)!;
        Assert.Equal(Db.Hosts(current, 2, 3, 4), await Db.YbServerHostsAsync(current, 4));
        Assert.Equal(1, (await RunAsync("stop_node", "1")).Code);

        var destroy = await RunAsync("destroy");
        Assert.Equal(0, destroy.Code);
        Assert.False(Directory.Exists(BaseDir));
        Assert.False(ProcessTable.IsAlive(rpczPid.Value), "the rpcz server survived destroy");
        Assert.All(postmasters, pid => Assert.False(ProcessTable.IsAlive(pid), $"postmaster {pid} survived destroy"));
        foreach (var i in new[] { 1, 2, 3, 4 })
        {
            Assert.True(AddressPlan.CanBind($"127.0.{Block}.{i}", 2521), $"something still listens on node {i}'s SQL port");
            Assert.True(AddressPlan.CanBind($"127.0.{Block}.{i}", 8100), $"something still listens on node {i}'s rpcz port");
        }

        Assert.Equal(1, (await RunAsync("status")).Code);
    }

    async Task StepAsync(NodeState expected, int node, params string[] args)
    {
        var result = await RunAsync(args);
        Assert.True(result.Code == 0, $"{string.Join(' ', args)} exited {result.Code}: {result.Error}");
        Assert.Equal(expected, LocalCluster.TryAttach(BaseDir)!.Node(node).State);
    }

}

/// <summary>
/// A CLI test class with a cluster of its own: an address block held by the class and a private base directory, and a
/// cluster left behind by a failed assertion destroyed at the end.
/// </summary>
public abstract class CliClusterTestBase(string prefix) : IAsyncLifetime
{
    readonly string _baseDir = Path.Combine(Path.GetTempPath(), $"{prefix}-{Guid.NewGuid():N}");
    AddressBlockLease? _lease;

    protected int Block => _lease!.Block;

    protected string BaseDir => _baseDir;

    public async Task InitializeAsync() => _lease = await AddressBlockLease.AcquireAsync(2521, 8100, singleAddress: false, CancellationToken.None);

    public async Task DisposeAsync()
    {
        // Only reached with a cluster left when an assertion failed half-way.
        if (LocalCluster.TryAttach(_baseDir) is { } leftover)
        {
            await leftover.DestroyAsync();
        }

        _lease?.Dispose();
    }

    /// <summary>Runs bm-dev-ctl on this class's base directory (and, for <c>create</c>, its address block).</summary>
    protected Task<(int Code, string Output, string Error)> RunAsync(params string[] args) =>
        CliRun.RunAsync([.. args, "--base_dir", _baseDir, .. args[0] == "create" ? new[] { "--address_block", Block.ToString(CultureInfo.InvariantCulture) } : []]);
}

static class CliRun
{
    public static async Task<(int Code, string Output, string Error)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await Cli.RunAsync(args, output, error);
        return (code, output.ToString(), error.ToString());
    }
}
