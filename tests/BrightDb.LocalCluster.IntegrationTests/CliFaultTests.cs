using System.Diagnostics;
using System.Globalization;
using BrightDb.LocalCluster.Internal;
using Npgsql;

namespace BrightDb.LocalCluster.IntegrationTests;

/// <summary>bm-dev-ctl's fault proxies on a cluster of their own (an address block held by this class, a private base
/// directory): the proxies live in the detached helper, the fault command reaches them through their control channel.</summary>
public sealed class CliFaultTests() : CliClusterTestBase("cli-fault")
{
    [Fact]
    public async Task Create_with_the_proxy_set_faults_observe_them_clear_and_destroy()
    {
        var created = await RunAsync("create", "--rf", "2", "--fault_proxy");
        Assert.True(created.Code == 0, created.Error);
        Assert.Contains($"127.0.{Block}.2:2521", created.Output, StringComparison.Ordinal);
        Assert.Contains("Fault proxies:", created.Output, StringComparison.Ordinal);
        var helper = DetachedRpcz.RunningPid(BaseDir);
        Assert.NotNull(helper);
        var cluster = LocalCluster.TryAttach(BaseDir)!;
        Assert.True(cluster.Node(1).BehindFaultProxy);
        Assert.Equal(Db.Hosts(cluster, 1, 2), await Db.YbServerHostsAsync(cluster, 1));

        await using var existing = Db.Connection(cluster.ConnectionString(1));
        await existing.OpenAsync();

        var latency = await RunAsync("fault", "1", "latency", "300", "--direction", "up");
        Assert.True(latency.Code == 0, latency.Error);
        Assert.Contains($"Node 1 (127.0.{Block}.1:2521): latency 300 ms (client to server).", latency.Output, StringComparison.Ordinal);
        var watch = Stopwatch.StartNew();
        Assert.Equal(1, await ScalarAsync(existing));
        Assert.True(watch.Elapsed >= TimeSpan.FromMilliseconds(300), $"select 1 took {watch.Elapsed.TotalMilliseconds} ms");

        Assert.Equal(0, (await RunAsync("fault", "1", "refuse")).Code);
        watch.Restart();
        await using (var refused = Db.Connection(cluster.ConnectionString(1)))
        {
            await Assert.ThrowsAnyAsync<NpgsqlException>(() => refused.OpenAsync());
        }

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1), $"a refused open took {watch.Elapsed.TotalMilliseconds} ms");
        Assert.Equal(1, await ScalarAsync(existing));
        Assert.Contains("node 1: fault refuse", (await RunAsync("status")).Output, StringComparison.Ordinal);

        var clear = await RunAsync("fault", "1", "clear");
        Assert.Equal(0, clear.Code);
        Assert.Contains("Node 1 (", clear.Output, StringComparison.Ordinal);
        Assert.Contains("fault cleared.", clear.Output, StringComparison.Ordinal);
        Assert.Equal(1, await Db.ScalarAsync<int>(cluster.ConnectionString(1), "select 1"));

        foreach (var (code, args) in new[]
                 {
                     (2, new[] { "fault", "1", "latency" }), (2, ["fault", "1", "hang", "5"]), (2, ["fault", "1", "bogus"]),
                     (2, ["fault", "1", "hang", "--direction", "up"]), (2, ["fault", "1", "bandwidth", "0"]), (1, ["fault", "9", "hang"]),
                 })
        {
            var bad = await RunAsync(args);
            Assert.True(bad.Code == code, $"{string.Join(' ', args)} exited {bad.Code}: {bad.Error}");
        }

        // Node operations reach the helper's proxies: a stopped node refuses, a started one answers.
        Assert.Equal(0, (await RunAsync("stop_node", "2")).Code);
        await using (var stopped = Db.Connection(cluster.ConnectionString(2)))
        {
            await Assert.ThrowsAnyAsync<NpgsqlException>(() => stopped.OpenAsync());
        }

        Assert.Equal(0, (await RunAsync("start_node", "2")).Code);
        Assert.Equal(1, await Db.ScalarAsync<int>(cluster.ConnectionString(2), "select 1"));

        Assert.Equal(0, (await RunAsync("destroy")).Code);
        Assert.False(ProcessTable.IsAlive(helper.Value), "the helper survived destroy");
        foreach (var node in cluster.Nodes)
        {
            Assert.True(AddressPlan.CanBind(node.Host, node.Port), $"something still listens on node {node.Index}'s proxy address");
            Assert.True(AddressPlan.CanBind(node.ServerHost, node.ServerPort), $"something still listens on node {node.Index}'s server address");
        }
    }

    static async Task<int> ScalarAsync(NpgsqlConnection connection)
    {
        await using var command = new NpgsqlCommand("select 1", connection);
        return (int)(await command.ExecuteScalarAsync())!;
    }

}
