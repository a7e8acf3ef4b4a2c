using System.Net.Http.Json;
using System.Text.Json;
using BrightDb.LocalCluster.Internal;
using Npgsql;

namespace BrightDb.LocalCluster.IntegrationTests;

/// <summary>Creating and destroying clusters: options, failures that leave nothing behind, attach, in-process rpcz.</summary>
public sealed class LifecycleTests
{
    static readonly NodeSpec West = new(Placement.Parse("aws.us-west.us-west-2a"));

    [Fact]
    public async Task Concurrent_clusters_get_distinct_address_blocks_and_separate_memberships()
    {
        var clusters = await Task.WhenAll(
            LocalCluster.StartAsync("aws.us-west.us-west-2a"),
            LocalCluster.StartAsync(new LocalClusterOptions { Nodes = [West, West] }));
        await using var first = clusters[0];
        await using var second = clusters[1];
        Assert.NotEqual(first.AddressBlock, second.AddressBlock);
        Assert.Equal(Db.Hosts(first, 1), await Db.YbServerHostsAsync(first, 1));
        Assert.Equal(Db.Hosts(second, 1, 2), await Db.YbServerHostsAsync(second, 2));
    }

    [Fact]
    public async Task Dispose_destroys_everything_even_a_paused_node_and_releases_the_block()
    {
        var cluster = await LocalCluster.StartAsync(new LocalClusterOptions { Nodes = [West, West] });
        var pids = cluster.Nodes.Select(n => NodeServer.PostmasterPid(n)!.Value).ToList();
        var node2 = cluster.Node(2);
        await cluster.PauseNodeAsync(2);
        await cluster.DisposeAsync();

        Assert.False(Directory.Exists(cluster.BaseDirectory));
        Assert.All(pids, pid => Assert.False(ProcessTable.IsAlive(pid), $"postmaster {pid} survived"));
        Assert.True(AddressPlan.CanBind(node2.Host, node2.Port));
        using (var relocked = ToolPaths.TryLock(Path.Combine(ToolPaths.Blocks, $"{cluster.AddressBlock}.lock")))
        {
            Assert.NotNull(relocked);
        }

        await Assert.ThrowsAsync<ObjectDisposedException>(() => cluster.StopNodeAsync(1));
        await cluster.DisposeAsync();
    }

    [Fact]
    public async Task A_node_that_fails_to_start_stops_the_others_deletes_the_data_and_reports_its_log()
    {
        using var lease = await AddressBlockLease.AcquireAsync(2521, 8100, singleAddress: false, CancellationToken.None);
        var baseDirectory = Path.Combine(Path.GetTempPath(), $"lc-fail-{Guid.NewGuid():N}");
        var error = await Assert.ThrowsAsync<LocalClusterException>(() => LocalCluster.StartAsync(new LocalClusterOptions
        {
            Nodes = [West, West, West],
            AddressBlock = lease.Block,
            BaseDirectory = baseDirectory,
            ExtraNodeConfiguration = i => i == 2 ? "shared_buffers = 'lots'" : null,
        }));

        Assert.Contains("Node 2", error.Message, StringComparison.Ordinal);
        Assert.Contains("shared_buffers", error.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(baseDirectory));
        foreach (var i in new[] { 1, 3 })
        {
            Assert.True(AddressPlan.CanBind($"127.0.{lease.Block}.{i}", 2521), $"node {i} still listens");
        }
    }

    [Fact]
    public async Task An_address_in_use_fails_before_anything_is_created()
    {
        using var lease = await AddressBlockLease.AcquireAsync(2521, 8100, singleAddress: false, CancellationToken.None);
        using var squatter = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Parse($"127.0.{lease.Block}.2"), 2521);
        squatter.Start();
        var baseDirectory = Path.Combine(Path.GetTempPath(), $"lc-busy-{Guid.NewGuid():N}");
        var error = await Assert.ThrowsAsync<LocalClusterException>(() => LocalCluster.StartAsync(new LocalClusterOptions
        {
            Nodes = [West, West],
            AddressBlock = lease.Block,
            BaseDirectory = baseDirectory,
        }));
        Assert.Contains($"127.0.{lease.Block}.2:2521 is already in use", error.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(baseDirectory));
        Assert.True(AddressPlan.CanBind($"127.0.{lease.Block}.1", 2521));
    }

    [Fact]
    public async Task Bad_options_and_missing_binaries_give_clear_errors()
    {
        await Assert.ThrowsAsync<ArgumentException>(() => LocalCluster.StartAsync(new LocalClusterOptions()));
        await Assert.ThrowsAsync<ArgumentException>(() => LocalCluster.StartAsync(new LocalClusterOptions { Nodes = [West], Port = 0 }));
        Assert.Throws<FormatException>(() => Placement.Parse("aws.us-west"));
        Assert.Throws<FormatException>(() => Placement.Parse("a..c"));
        Assert.Equal(new Placement("aws", "us-west", "us-west-2a"), Placement.Parse(" aws.us-west.us-west-2a "));
        Assert.Equal("aws.us-west.us-west-2a", Placement.Parse("aws.us-west.us-west-2a").ToString());

        var missing = await Assert.ThrowsAsync<PostgresNotFoundException>(() => LocalCluster.StartAsync(new LocalClusterOptions
        {
            Nodes = [West],
            PostgresBinDirectory = "/nonexistent/postgresql/bin",
        }));
        Assert.Contains("apt-get install -y postgresql", missing.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Options_password_plain_postgres_and_single_address_mode()
    {
        await using var cluster = await LocalCluster.StartAsync(new LocalClusterOptions
        {
            Nodes = [West, new NodeSpec(Placement.Parse("aws.us-west.us-west-2b"))],
            Password = "s3cret;x",
            WithYbServers = false,
            SingleAddress = true,
        });
        Assert.True(cluster.SingleAddress);
        Assert.Equal(cluster.Node(1).Host, cluster.Node(2).Host);
        Assert.Equal(cluster.Node(1).Port + 1, cluster.Node(2).Port);
        Assert.Equal(1, await Db.ScalarAsync<int>(cluster.ConnectionString(2), "select 1"));
        Assert.Equal("s3cret;x", new NpgsqlConnectionStringBuilder(cluster.ConnectionString(1)).Password);
        var error = await Assert.ThrowsAsync<PostgresException>(() => cluster.QueryYbServersAsync(1));
        Assert.Equal(PostgresErrorCodes.UndefinedFunction, error.SqlState);
    }

    [Fact]
    public async Task Attach_sees_the_cluster_and_disposing_it_leaves_the_cluster_running()
    {
        await using var cluster = await LocalCluster.StartAsync(new LocalClusterOptions { Nodes = [West, West] });
        Assert.Null(LocalCluster.TryAttach(Path.Combine(Path.GetTempPath(), $"nothing-{Guid.NewGuid():N}")));
        var attached = LocalCluster.TryAttach(cluster.BaseDirectory);
        Assert.NotNull(attached);
        await using (attached)
        {
            Assert.Equal(cluster.Nodes.Select(n => (n.Index, n.Host, n.Uuid)), attached.Nodes.Select(n => (n.Index, n.Host, n.Uuid)));
            await attached.StopNodeAsync(2);
        }

        Assert.Equal(Db.Hosts(cluster, 1), await Db.YbServerHostsAsync(cluster, 1));
        await using var again = LocalCluster.TryAttach(cluster.BaseDirectory)!;
        Assert.Equal(NodeState.Stopped, again.Node(2).State);
        await again.StartNodeAsync(2);
        Assert.Equal(Db.Hosts(cluster, 1, 2), await Db.YbServerHostsAsync(cluster, 1));

        var blocked = await Assert.ThrowsAsync<LocalClusterException>(() => LocalCluster.StartAsync(new LocalClusterOptions
        {
            Nodes = [West],
            BaseDirectory = cluster.BaseDirectory,
        }));
        Assert.Contains("already exists", blocked.Message, StringComparison.Ordinal);
        Assert.Equal(1, await Db.ScalarAsync<int>(cluster.ConnectionString(1), "select 1"));
    }

    [Fact]
    public async Task In_process_rpcz_lists_the_nodes_client_connections()
    {
        await using var cluster = await LocalCluster.StartAsync(new LocalClusterOptions { Nodes = [West, West], StartRpcz = true });
        await using var held = Db.Connection(cluster.ConnectionString(2), applicationName: "held-open");
        await held.OpenAsync();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var node2 = cluster.Node(2);
        using var document = JsonDocument.Parse(await http.GetStringAsync($"http://{node2.Host}:{node2.RpczPort}/rpcz"));
        var connection = Assert.Single(document.RootElement.GetProperty("connections").EnumerateArray());
        Assert.Equal("client backend", connection.GetProperty("backend_type").GetString());
        Assert.Equal("bigmath", connection.GetProperty("db_name").GetString());
        Assert.Equal("bigmath", connection.GetProperty("user").GetString());
        Assert.Equal("held-open", connection.GetProperty("application_name").GetString());
        Assert.Equal("idle", connection.GetProperty("backend_status").GetString());
        Assert.True(connection.GetProperty("port").GetInt32() > 0);
        Assert.False(string.IsNullOrEmpty(connection.GetProperty("host").GetString()));
        Assert.True(connection.TryGetProperty("query", out _));

        var node1 = cluster.Node(1);
        var empty = await http.GetFromJsonAsync<JsonElement>($"http://{node1.Host}:{node1.RpczPort}/rpcz");
        Assert.Equal(0, empty.GetProperty("connections").GetArrayLength());
        using var missing = await http.GetAsync($"http://{node1.Host}:{node1.RpczPort}/nope");
        Assert.Equal(System.Net.HttpStatusCode.NotFound, missing.StatusCode);

        var added = await cluster.AddNodeAsync(West);
        var added3 = await http.GetFromJsonAsync<JsonElement>($"http://{added.Host}:{added.RpczPort}/rpcz");
        Assert.Equal(0, added3.GetProperty("connections").GetArrayLength());
    }
}
