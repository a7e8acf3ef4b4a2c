using System.Diagnostics;
using System.Net.Sockets;
using Npgsql;

namespace BrightDb.LocalCluster.IntegrationTests;

/// <summary>A paused node is a hung node: the kernel accepts TCP connections, the server never answers.</summary>
public sealed class PauseTests(TwoNodeFixture fixture) : IClassFixture<TwoNodeFixture>
{
    LocalCluster Cluster => fixture.Cluster;

    [Fact]
    public async Task A_paused_node_accepts_tcp_never_answers_and_works_again_after_resume()
    {
        var node = Cluster.Node(2);
        // Generous for a live node (a loaded machine is slow to fork a backend), short for the paused one.
        Assert.True(await AnswersSslRequestAsync(node, TimeSpan.FromSeconds(10)), "a running node answers an SSLRequest");

        await Cluster.PauseNodeAsync(2);
        try
        {
            Assert.Equal(NodeState.Paused, node.State);
            Assert.False(await AnswersSslRequestAsync(node, TimeSpan.FromSeconds(2)), "a paused node must complete the TCP handshake but never answer");

            var watch = Stopwatch.StartNew();
            await using var connection = Db.Connection(Cluster.ConnectionString(2), timeoutSeconds: 2);
            var error = await Assert.ThrowsAnyAsync<Exception>(() => connection.OpenAsync());
            Assert.True(error is NpgsqlException or TimeoutException, $"unexpected {error.GetType()}: {error.Message}");
            Assert.InRange(watch.Elapsed, TimeSpan.FromSeconds(1.5), TimeSpan.FromSeconds(20));

            // The rest of the cluster is unaffected, and the membership still lists the hung node.
            Assert.Equal(Db.Hosts(Cluster, 1, 2), await Db.YbServerHostsAsync(Cluster, 1));
            Assert.DoesNotContain(2, (await Cluster.GetClientConnectionCountsAsync()).Keys);
            await Assert.ThrowsAsync<InvalidOperationException>(() => Cluster.StartNodeAsync(2));
        }
        finally
        {
            await Cluster.ResumeNodeAsync(2);
        }

        Assert.Equal(NodeState.Running, node.State);
        Assert.Equal(1, await Db.ScalarAsync<int>(Cluster.ConnectionString(2), "select 1"));
    }

    /// <summary>Connects with a raw socket and sends an SSLRequest: a live server replies 'S' or 'N' immediately.</summary>
    static async Task<bool> AnswersSslRequestAsync(LocalNode node, TimeSpan wait)
    {
        using var client = new TcpClient();
        using var connectTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await client.ConnectAsync(node.Host, node.Port, connectTimeout.Token);
        var stream = client.GetStream();
        await stream.WriteAsync(new byte[] { 0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f });
        var reply = new byte[1];
        using var readTimeout = new CancellationTokenSource(wait);
        try
        {
            return await stream.ReadAsync(reply, readTimeout.Token) == 1 && reply[0] is (byte)'S' or (byte)'N';
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
