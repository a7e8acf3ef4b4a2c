using BrightDb.Npgsql.IntegrationTests.Support;
using Npgsql;
using Cluster = BrightDb.LocalCluster.LocalCluster;

namespace BrightDb.Npgsql.IntegrationTests;

/// <summary>
/// Idle pooled connections to a server that was killed, stopped or restarted are never handed out. By default
/// (<c>Host Recheck Seconds=1</c>) the driver keeps one watch connection of its own per server used, which the server ends
/// at the same moment as the idle ones; the driver then closes them, and until a server's watch is connected Npgsql checks
/// every idle connection of it. At <c>Host Recheck Seconds=60</c> Npgsql's check once a second does not run in these tests,
/// so only the watch keeps the dead connections from the application. <c>Host Recheck Seconds=0</c> has Npgsql check every
/// idle connection before handing it out, with no watch. In every case the opens start as soon as the fault is done.
/// </summary>
public sealed class IdleConnectionWatchTests(ThreeZonesClusterFixture fixture) : IClassFixture<ThreeZonesClusterFixture>
{
    const string ControlSuffix = " (BrightDB control)";

    Cluster Cluster => fixture.Cluster;

    public enum Fault
    {
        Killed,
        Stopped,
        Restarted,
    }

    [Theory]
    [InlineData(Fault.Killed, "")]
    [InlineData(Fault.Stopped, "")]
    [InlineData(Fault.Restarted, "")]
    [InlineData(Fault.Killed, "Host Recheck Seconds=0")]
    [InlineData(Fault.Stopped, "Host Recheck Seconds=0")]
    [InlineData(Fault.Restarted, "Host Recheck Seconds=0")]
    [InlineData(Fault.Killed, "Host Recheck Seconds=60")]
    [InlineData(Fault.Stopped, "Host Recheck Seconds=60")]
    [InlineData(Fault.Restarted, "Host Recheck Seconds=60")]
    public async Task Idle_connections_of_a_failed_server_are_never_handed_out(Fault fault, string extra)
    {
        var app = $"watch-{fault.ToString().ToLowerInvariant()}-{(extra.Length > 0 ? "recheck" + extra.Split('=')[1] : "default")}";
        await using var ds = Counts.Create(EveryPath.ConnectionString(Cluster, app, pooling: true, extra: extra));
        await using (var first = new ConnectionSet())
            await EveryPath.OpenHeldAsync(ds, 12, first);
        Counts.AssertMap("4/4/4", ds, Cluster);
        Assert.Equal("4/4/4", await EveryPath.ServersEventuallyAsync(Cluster, app, "4/4/4"));
        // One watch per server used: the driver's own connection (not the application's, not in the map). None with
        // Host Recheck Seconds=0: Npgsql checks every idle connection.
        var watches = extra == "Host Recheck Seconds=0" ? "0/0/0" : "1/1/1";
        Assert.Equal(watches, await EveryPath.ServersEventuallyAsync(Cluster, app + ControlSuffix, watches));

        var node = Cluster.Nodes[1];
        switch (fault)
        {
            case Fault.Killed:
                await Cluster.KillNodeAsync(node.Index);
                break;
            case Fault.Stopped:
                await Cluster.StopNodeAsync(node.Index);
                break;
            case Fault.Restarted:
                await Cluster.KillNodeAsync(node.Index);
                await Cluster.StartNodeAsync(node.Index);
                break;
        }

        try
        {
            await using var held = new ConnectionSet();
            var failures = await EveryPath.OpenEachAsync(async () => await ds.OpenConnectionAsync(), 12, held);

            var (map, servers) = await EveryPath.MapAndServersEventuallyAsync(ds, Cluster, app);
            // A stopped server leaves yb_servers(): the map then has no entry for it ("-"), and it holds nothing.
            var held2 = map.Split('/')[1].Replace("-", "0", StringComparison.Ordinal);
            var verdict = new Verdict();
            verdict.NoFailures(failures, 12);
            verdict.Equal(servers.Replace("-", "0", StringComparison.Ordinal), map.Replace("-", "0", StringComparison.Ordinal), "driver map against the servers' counts");
            if (fault != Fault.Restarted)
                verdict.Equal("0", held2, "driver map on the failed node 2");
            verdict.Assert(ds);
        }
        finally
        {
            await EveryPath.RestoreAsync(Cluster);
        }
    }

    [Fact]
    public async Task One_watch_per_server_used_when_pooled_none_unpooled_or_with_Host_Recheck_Seconds_0_and_none_left_after_dispose()
    {
        const string App = "watch-lifetime";
        var ds = Counts.Create(EveryPath.ConnectionString(Cluster, App, pooling: true));
        await using (var held = new ConnectionSet())
        {
            await EveryPath.OpenHeldAsync(ds, 3, held);
            Assert.Equal("1/1/1", await EveryPath.ServersEventuallyAsync(Cluster, App + ControlSuffix, "1/1/1"));
        }

        await ds.DisposeAsync();
        Assert.Equal("0/0/0", await EveryPath.ServersEventuallyAsync(Cluster, App + ControlSuffix, "0/0/0"));
        Assert.Equal("0/0/0", await EveryPath.ServersEventuallyAsync(Cluster, App, "0/0/0"));

        foreach (var (app, pooling, extra) in new[] { ("watch-unpooled", false, ""), ("watch-check-every-open", true, "Host Recheck Seconds=0") })
        {
            await using var other = Counts.Create(EveryPath.ConnectionString(Cluster, app, pooling, extra: extra));
            await using var held = new ConnectionSet();
            await EveryPath.OpenHeldAsync(other, 3, held);
            // Give a watch, were one started, the time to connect: none may appear.
            await Task.Delay(500);
            Assert.Equal("0/0/0", await EveryPath.ServersAsync(Cluster, app + ControlSuffix));
        }
    }

    /// <summary>
    /// Npgsql keeps a data-source command's connection to itself, so the driver never counts it: creating the command starts
    /// the watch of its server instead. Every server that holds the commands' connections gets its watch.
    /// </summary>
    [Fact]
    public async Task Commands_of_the_data_source_start_the_watch_of_their_server()
    {
        const string App = "watch-commands";
        await using var ds = Counts.Create(EveryPath.ConnectionString(Cluster, App, pooling: true));
        for (var i = 0; i < 9; i++)
        {
            await using var command = ds.CreateCommand("select 1");
            Assert.Equal(1, await command.ExecuteScalarAsync());
        }

        var used = await EveryPath.ServerCountsAsync(Cluster, App);
        Assert.Contains(used, n => n > 0);
        var expected = string.Join('/', used.Select(n => n > 0 ? "1" : "0"));
        Assert.Equal(expected, await EveryPath.ServersEventuallyAsync(Cluster, App + ControlSuffix, expected));
    }

    /// <summary>
    /// The watch does not notice a server that ends some of the application's idle connections and keeps the watch's (an
    /// administrator's <c>pg_terminate_backend</c>, an idle-session timeout). As Npgsql would, the driver checks the idle
    /// connection it hands out once <c>Host Recheck Seconds</c> (1 s by default) passed since the last check: after that, no
    /// dead idle connection reaches the application, whether it opens through the driver or opens a connection it created.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Idle_connections_ended_behind_the_watch_are_not_handed_out_once_Host_Recheck_Seconds_passed(bool createThenOpen)
    {
        var app = $"watch-ended-behind-{(createThenOpen ? "create" : "open")}";
        await using var ds = Counts.Create(EveryPath.ConnectionString(Cluster, app, pooling: true));
        await using (var first = new ConnectionSet())
            await EveryPath.OpenEachAsync(() => Open(ds, createThenOpen), 12, first);
        Assert.Equal("4/4/4", await EveryPath.ServersEventuallyAsync(Cluster, app, "4/4/4"));
        Assert.Equal("1/1/1", await EveryPath.ServersEventuallyAsync(Cluster, app + ControlSuffix, "1/1/1"));

        // Node 2 ends the application's four idle connections and keeps the watch's.
        Assert.Equal(4, await TerminateAsync(Cluster.Nodes[1].Index, app));
        Assert.Equal("4/0/4", await EveryPath.ServersEventuallyAsync(Cluster, app, "4/0/4"));
        Assert.Equal("1/1/1", await EveryPath.ServersAsync(Cluster, app + ControlSuffix));
        await Task.Delay(TimeSpan.FromSeconds(BrightDb.Npgsql.ConnectionStrings.BrightDbSettings.BalancedHostRecheckSeconds) + TimeSpan.FromMilliseconds(200));

        await using var held = new ConnectionSet();
        var failures = await EveryPath.OpenEachAsync(() => Open(ds, createThenOpen), 12, held);
        var (map, servers) = await EveryPath.MapAndServersEventuallyAsync(ds, Cluster, app);
        var verdict = new Verdict();
        verdict.NoFailures(failures, 12);
        verdict.Equal(servers, map, "driver map against the servers' counts");
        verdict.Assert(ds);
    }

    static async Task<NpgsqlConnection> Open(BrightDbDataSource ds, bool createThenOpen)
    {
        if (!createThenOpen)
            return await ds.OpenConnectionAsync();
        var connection = ds.CreateConnection();
        await connection.OpenAsync();
        return connection;
    }

    /// <summary>Ends the backends of <paramref name="app"/> (exactly that name) on a node; returns how many.</summary>
    async Task<int> TerminateAsync(int node, string app)
    {
        await using var connection = new NpgsqlConnection(
            new NpgsqlConnectionStringBuilder(Cluster.AdminConnectionString(node)) { Pooling = false, ApplicationName = "bm-dev-ctl" }.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT count(*) FILTER (WHERE pg_catalog.pg_terminate_backend(pid)) FROM pg_catalog.pg_stat_activity WHERE application_name = @app",
            connection);
        command.Parameters.AddWithValue("app", app);
        return (int)(long)(await command.ExecuteScalarAsync())!;
    }
}
