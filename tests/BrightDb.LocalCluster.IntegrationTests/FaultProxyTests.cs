using System.Diagnostics;
using Npgsql;

namespace BrightDb.LocalCluster.IntegrationTests;

public sealed class FaultProxyFixture : ClusterFixture
{
    protected override LocalClusterOptions Options => new()
    {
        Nodes = [new NodeSpec(Placement.Parse("aws.us-west.us-west-2a")), new NodeSpec(Placement.Parse("aws.us-west.us-west-2b"))],
        FaultProxy = true,
    };
}

/// <summary>Every fault of the proxy, seen by Npgsql connections through it; each test leaves both nodes without a fault.</summary>
public sealed class FaultProxyTests(FaultProxyFixture fixture) : IClassFixture<FaultProxyFixture>, IAsyncLifetime
{
    LocalCluster Cluster => fixture.Cluster;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await Cluster.ClearFaultAsync(1);
        await Cluster.ClearFaultAsync(2);
    }

    [Fact]
    public async Task Clients_reach_the_servers_through_the_proxies()
    {
        var node = Cluster.Node(1);
        Assert.True(Cluster.FaultProxy);
        Assert.True(node.BehindFaultProxy);
        Assert.NotEqual(node.Address, $"{node.ServerHost}:{node.ServerPort}");
        Assert.Equal(Db.Hosts(Cluster, 1, 2), await Db.YbServerHostsAsync(Cluster, 1));

        await using var connection = Db.Connection(Cluster.ConnectionString(1), applicationName: "through-the-proxy");
        await connection.OpenAsync();
        // The server sees the connection arrive on its own address, the client connected to the proxy's.
        Assert.Equal(node.ServerHost, (await ScalarAsync<System.Net.IPAddress>(connection, "select inet_server_addr()")).ToString());
        Assert.Equal(1, await Cluster.GetClientConnectionCountAsync(1, "through-the-proxy"));
        Assert.Equal(NodeFault.None, node.Fault);
    }

    [Fact]
    public async Task Latency_delays_every_round_trip_and_breaks_nothing()
    {
        await using var connection = await OpenAsync(1);
        await Cluster.SetFaultAsync(1, NodeFault.Latency(TimeSpan.FromMilliseconds(200), FaultDirection.Up));
        Assert.Equal(NodeFault.Latency(TimeSpan.FromMilliseconds(200), FaultDirection.Up), Cluster.Node(1).Fault);
        var (one, elapsed) = await TimedAsync(() => ScalarAsync<int>(connection, "select 1"));
        Assert.Equal(1, one);
        Assert.True(elapsed >= TimeSpan.FromMilliseconds(200), $"select 1 took {elapsed.TotalMilliseconds} ms with 200 ms up");

        await Cluster.SetFaultAsync(1, NodeFault.Latency(TimeSpan.FromMilliseconds(200)));
        (one, elapsed) = await TimedAsync(() => ScalarAsync<int>(connection, "select 1"));
        Assert.Equal(1, one);
        Assert.True(elapsed >= TimeSpan.FromMilliseconds(400), $"select 1 took {elapsed.TotalMilliseconds} ms with 200 ms both ways");

        await using var fresh = await OpenAsync(1);
        Assert.Equal(5050L, await ScalarAsync<long>(fresh, "select sum(i) from generate_series(1, 100) i"));
    }

    [Fact]
    public async Task Bandwidth_limits_a_large_result()
    {
        await using var connection = await OpenAsync(1);
        await Cluster.SetFaultAsync(1, NodeFault.Bandwidth(100_000));
        var (text, elapsed) = await TimedAsync(() => ScalarAsync<string>(connection, "select repeat('x', 300000)"));
        Assert.Equal(300_000, text.Length);
        Assert.True(elapsed >= TimeSpan.FromSeconds(2), $"300 kB at 100 kB/s took {elapsed.TotalMilliseconds} ms");
    }

    [Fact]
    public async Task Hang_times_out_new_connections_while_existing_ones_work()
    {
        await using var existing = await OpenAsync(1);
        await Cluster.SetFaultAsync(1, NodeFault.Hang);

        var watch = Stopwatch.StartNew();
        await using var hung = Db.Connection(Cluster.ConnectionString(1), timeoutSeconds: 2);
        var error = await Assert.ThrowsAnyAsync<Exception>(() => hung.OpenAsync());
        Assert.True(error is NpgsqlException or TimeoutException, $"unexpected {error.GetType()}: {error.Message}");
        Assert.InRange(watch.Elapsed, TimeSpan.FromSeconds(1.5), TimeSpan.FromSeconds(20));
        Assert.Equal(1, await ScalarAsync<int>(existing, "select 1"));

        await Cluster.ClearFaultAsync(1);
        await using var fresh = await OpenAsync(1);
        Assert.Equal(1, await ScalarAsync<int>(fresh, "select 1"));
    }

    [Fact]
    public async Task Stall_silences_a_result_in_the_middle_until_the_command_times_out()
    {
        // Npgsql's cancel request on timeout opens a connection too, which the stall leaves unanswered for this long.
        await using var connection = Db.Connection(Cluster.ConnectionString(1), timeoutSeconds: 3);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("select i, repeat('x', 100) from generate_series(1, 400000) i", connection) { CommandTimeout = 2 };
        var watch = Stopwatch.StartNew();
        var error = await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await using var reader = await command.ExecuteReaderAsync();
            Assert.True(await reader.ReadAsync());
            await Cluster.SetFaultAsync(1, NodeFault.Stall);
            while (await reader.ReadAsync())
            {
            }
        });
        Assert.True(error is NpgsqlException or TimeoutException, $"unexpected {error.GetType()}: {error.Message}");
        Assert.InRange(watch.Elapsed, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(60));

        // Another node is not affected.
        await using var other = await OpenAsync(2);
        Assert.Equal(1, await ScalarAsync<int>(other, "select 1"));
    }

    [Fact]
    public async Task Clearing_a_stall_delivers_what_was_held()
    {
        await using var connection = await OpenAsync(1);
        await Cluster.SetFaultAsync(1, NodeFault.Stall);
        var pending = ScalarAsync<int>(connection, "select 42");
        await Task.Delay(500);
        Assert.False(pending.IsCompleted, "a stalled node answered");
        await Cluster.ClearFaultAsync(1);
        Assert.Equal(42, await pending.WaitAsync(TimeSpan.FromSeconds(20)));
    }

    [Fact]
    public async Task Reset_after_n_bytes_breaks_the_connection_that_reaches_it_only()
    {
        await using var large = await OpenAsync(1);
        await using var small = await OpenAsync(1);
        await Cluster.SetFaultAsync(1, NodeFault.ResetAfter(100_000));

        Assert.Equal(1, await ScalarAsync<int>(small, "select 1"));
        var error = await Assert.ThrowsAnyAsync<NpgsqlException>(() => ScalarAsync<string>(large, "select repeat('x', 2000000)"));
        Assert.True(Chain(error).Any(e => e is IOException or System.Net.Sockets.SocketException), $"not a socket error: {error}");
        Assert.NotEqual(System.Data.ConnectionState.Open, large.State);
        Assert.Equal(1, await ScalarAsync<int>(small, "select 1"));

        await Cluster.ClearFaultAsync(1);
        await using var fresh = await OpenAsync(1);
        Assert.Equal(2_000_000, (await ScalarAsync<string>(fresh, "select repeat('z', 2000000)")).Length);
    }

    [Fact]
    public async Task Refuse_fails_new_opens_fast_while_existing_ones_work()
    {
        await using var existing = await OpenAsync(1);
        await Cluster.SetFaultAsync(1, NodeFault.Refuse);

        var watch = Stopwatch.StartNew();
        await using var refused = Db.Connection(Cluster.ConnectionString(1), timeoutSeconds: 10);
        await Assert.ThrowsAnyAsync<NpgsqlException>(() => refused.OpenAsync());
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1), $"a refused open took {watch.Elapsed.TotalMilliseconds} ms");
        Assert.Equal(1, await ScalarAsync<int>(existing, "select 1"));

        await Cluster.ClearFaultAsync(1);
        await using var fresh = await OpenAsync(1);
        Assert.Equal(1, await ScalarAsync<int>(fresh, "select 1"));
    }

    async Task<NpgsqlConnection> OpenAsync(int node)
    {
        var connection = Db.Connection(Cluster.ConnectionString(node));
        await connection.OpenAsync();
        return connection;
    }

    static async Task<T> ScalarAsync<T>(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    static async Task<(T Value, TimeSpan Elapsed)> TimedAsync<T>(Func<Task<T>> action)
    {
        var watch = Stopwatch.StartNew();
        var value = await action();
        return (value, watch.Elapsed);
    }

    static IEnumerable<Exception> Chain(Exception? error)
    {
        for (; error is not null; error = error.InnerException)
        {
            yield return error;
        }
    }
}
