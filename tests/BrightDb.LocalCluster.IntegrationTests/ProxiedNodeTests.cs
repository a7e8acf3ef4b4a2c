using System.Diagnostics;
using Npgsql;

namespace BrightDb.LocalCluster.IntegrationTests;

/// <summary>With the fault proxy on, discovery and the node operations behave as they do without it.</summary>
public sealed class ProxiedNodeTests(FaultProxyFixture fixture) : IClassFixture<FaultProxyFixture>
{
    LocalCluster Cluster => fixture.Cluster;

    [Fact]
    public async Task Yb_servers_and_node_operations_work_through_the_proxy()
    {
        Assert.Equal(Db.Hosts(Cluster, 1, 2), await Db.YbServerHostsAsync(Cluster, 2));

        // Stopped: the proxy stops listening, so a connect is refused at once as without a proxy.
        await Cluster.StopNodeAsync(2);
        await AssertRefusedAsync(2);
        Assert.Equal(Db.Hosts(Cluster, 1), await Db.YbServerHostsAsync(Cluster, 1));
        await Cluster.StartNodeAsync(2);
        Assert.Equal(1, await Db.ScalarAsync<int>(Cluster.ConnectionString(2), "select 1"));
        Assert.Equal(Db.Hosts(Cluster, 1, 2), await Db.YbServerHostsAsync(Cluster, 1));

        // Killed: an open connection through the proxy breaks, new ones are refused.
        await using (var open = Db.Connection(Cluster.ConnectionString(2)))
        {
            await open.OpenAsync();
            await Cluster.KillNodeAsync(2);
            await using var command = new NpgsqlCommand("select 1", open);
            await Assert.ThrowsAnyAsync<NpgsqlException>(() => command.ExecuteScalarAsync());
        }

        await AssertRefusedAsync(2);
        Assert.Equal(Db.Hosts(Cluster, 1, 2), await Db.YbServerHostsAsync(Cluster, 1));
        await Cluster.StartNodeAsync(2);

        // Paused: the proxy accepts, the server never answers.
        await Cluster.PauseNodeAsync(2);
        try
        {
            await using var hung = Db.Connection(Cluster.ConnectionString(2), timeoutSeconds: 2);
            var error = await Assert.ThrowsAnyAsync<Exception>(() => hung.OpenAsync());
            Assert.True(error is NpgsqlException or TimeoutException, $"unexpected {error.GetType()}: {error.Message}");
        }
        finally
        {
            await Cluster.ResumeNodeAsync(2);
        }

        Assert.Equal(1, await Db.ScalarAsync<int>(Cluster.ConnectionString(2), "select 1"));

        // A fault outlives a restart of the node's server.
        await Cluster.SetFaultAsync(2, NodeFault.Latency(TimeSpan.FromMilliseconds(150), FaultDirection.Down));
        await Cluster.StopNodeAsync(2);
        await Cluster.StartNodeAsync(2);
        var watch = Stopwatch.StartNew();
        Assert.Equal(1, await Db.ScalarAsync<int>(Cluster.ConnectionString(2), "select 1"));
        Assert.True(watch.Elapsed >= TimeSpan.FromMilliseconds(150), $"connect and select 1 took {watch.Elapsed.TotalMilliseconds} ms");
        await Cluster.ClearFaultAsync(2);
    }

    [Fact]
    public async Task Fault_arguments_and_node_indexes_are_checked()
    {
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Cluster.SetFaultAsync(9, NodeFault.Hang));
        Assert.Throws<ArgumentOutOfRangeException>(() => NodeFault.Bandwidth(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => NodeFault.Latency(TimeSpan.FromMilliseconds(-1)));
        Assert.Equal("latency 200 ms (both ways)", NodeFault.Latency(TimeSpan.FromMilliseconds(200)).ToString());
    }

    [Fact]
    public async Task Destroy_closes_the_proxies_and_their_connections()
    {
        var cluster = await LocalCluster.StartAsync(new LocalClusterOptions
        {
            Nodes = [new NodeSpec(Placement.Parse("a.b.c"))],
            FaultProxy = true,
        });
        var node = cluster.Node(1);
        await using var open = Db.Connection(cluster.ConnectionString(1));
        await open.OpenAsync();
        await cluster.SetFaultAsync(1, NodeFault.Stall);

        await cluster.DisposeAsync();
        await using var command = new NpgsqlCommand("select 1", open);
        await Assert.ThrowsAnyAsync<NpgsqlException>(() => command.ExecuteScalarAsync());
        Assert.True(Internal.AddressPlan.CanBind(node.Host, node.Port), "the proxy still listens");
        Assert.True(Internal.AddressPlan.CanBind(node.ServerHost, node.ServerPort), "the server still listens");
        await Assert.ThrowsAsync<ObjectDisposedException>(() => cluster.SetFaultAsync(1, NodeFault.None));
    }

    async Task AssertRefusedAsync(int node)
    {
        var watch = Stopwatch.StartNew();
        await using var connection = Db.Connection(Cluster.ConnectionString(node), timeoutSeconds: 10);
        await Assert.ThrowsAnyAsync<NpgsqlException>(() => connection.OpenAsync());
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1), $"a refused open took {watch.Elapsed.TotalMilliseconds} ms");
    }
}
