using System.Collections.Concurrent;
using System.Data.Common;
using System.Diagnostics;
using System.Globalization;
using BrightDb.LocalCluster;
using BrightDb.Npgsql.IntegrationTests.Support;
using Npgsql;
using Cluster = BrightDb.LocalCluster.LocalCluster;

namespace BrightDb.Npgsql.IntegrationTests;

/// <summary>
/// Every way an application gets a connection (<c>OpenConnection[Async]</c>, <c>CreateConnection</c> then
/// <c>Open[Async]</c>, the <see cref="DbDataSource"/> base class, pooled and unpooled) meets the same balancing and
/// failover: a server that cannot serve is never handed out, and the driver's map says what the servers say.
/// </summary>
static class EveryPath
{
    internal const string Zone2a = "aws.us-west.us-west-2a";
    internal const string Zone2b = "aws.us-west.us-west-2b";
    internal const string Zone2c = "aws.us-west.us-west-2c";

    /// <summary>How long the servers' counts may take to settle (backends exit asynchronously after a close).</summary>
    static readonly TimeSpan Settle = TimeSpan.FromSeconds(10);

    /// <summary>
    /// A balanced connection string naming the first node only. Exact counts are asserted, and hung servers are not the
    /// subject unless a test says so: the hedge delay is long, so that a slow machine is not taken for a hung server.
    /// </summary>
    internal static string ConnectionString(Cluster cluster, string app, bool pooling, int hedgedOpenDelay = 10000, string extra = "")
    {
        var first = cluster.Nodes[0];
        return $"Host={first.Host};Port={first.Port};Database=bigmath;Username=bigmath;Password={cluster.Password};" +
               $"Load Balance Hosts=true;Pooling={(pooling ? "true" : "false")};Application Name={app};" +
               $"Hedged Open Delay={hedgedOpenDelay.ToString(CultureInfo.InvariantCulture)}{(extra.Length > 0 ? ";" + extra : "")}";
    }

    internal static string Mode(bool pooling) => pooling ? "pooled" : "unpooled";

    /// <summary>Runs <c>SELECT 1</c> on the connection; a wrong answer is an error like any other.</summary>
    internal static async Task SelectOneAsync(DbConnection connection)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT 1";
        var value = await command.ExecuteScalarAsync();
        if (value is not 1)
            throw new InvalidOperationException($"SELECT 1 returned {value ?? "null"}");
    }

    /// <inheritdoc cref="SelectOneAsync"/>
    internal static void SelectOne(DbConnection connection)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT 1";
        var value = command.ExecuteScalar();
        if (value is not 1)
            throw new InvalidOperationException($"SELECT 1 returned {value ?? "null"}");
    }

    /// <summary>The synchronous path of an application: <c>Open()</c>, then <c>SELECT 1</c>.</summary>
    internal static void OpenAndSelectOne(DbConnection connection)
    {
        connection.Open();
        SelectOne(connection);
    }

    /// <summary>A failed request, on one line, for failure messages.</summary>
    internal static string Describe(int request, Exception error) =>
        $"#{request}: {error.GetType().Name}: {error.Message.Split('\n')[0]}";

    /// <summary>The servers' counts of <paramref name="app"/> per node, a server that is not running holding 0.</summary>
    internal static async Task<string> ServersAsync(Cluster cluster, string app) =>
        Counts.Format(await ServerCountsAsync(cluster, app));

    internal static async Task<List<int?>> ServerCountsAsync(Cluster cluster, string app)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var counts = await cluster.GetClientConnectionCountsAsync(app);
                return [.. cluster.Nodes.Select(n => (int?)counts.GetValueOrDefault(n.Index))];
            }
            catch (NpgsqlException e) when (attempt < 3 && e.InnerException is TimeoutException)
            {
                // The counting query's own connection can time out on a saturated machine: ask again.
            }
        }
    }

    /// <summary>The servers' counts once they equal <paramref name="expected"/>, or the last ones read after a few seconds.</summary>
    internal static async Task<string> ServersEventuallyAsync(Cluster cluster, string app, string expected)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            var actual = await ServersAsync(cluster, app);
            if (actual == expected || watch.Elapsed > Settle)
                return actual;
            await Task.Delay(50);
        }
    }

    /// <summary>The servers' counts once they add up to <paramref name="total"/>, or the last ones read after a few seconds.</summary>
    internal static async Task<string> ServersWithTotalEventuallyAsync(Cluster cluster, string app, int total)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            var counts = await ServerCountsAsync(cluster, app);
            if (counts.Sum() == total || watch.Elapsed > Settle)
                return Counts.Format(counts);
            await Task.Delay(50);
        }
    }

    /// <summary>The driver's map and the servers' counts, once they agree, or the last ones read after a few seconds.</summary>
    internal static async Task<(string Map, string Servers)> MapAndServersEventuallyAsync(BrightDbDataSource dataSource, Cluster cluster, string app)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            var map = Counts.Map(dataSource, cluster);
            var servers = await ServersAsync(cluster, app);
            if (map == servers || watch.Elapsed > Settle)
                return (map, servers);
            await Task.Delay(50);
        }
    }

    /// <summary>Opens <paramref name="count"/> connections with <c>OpenConnectionAsync</c>, each running <c>SELECT 1</c>, into <paramref name="held"/>.</summary>
    internal static async Task OpenHeldAsync(BrightDbDataSource dataSource, int count, ConnectionSet held)
    {
        for (var i = 0; i < count; i++)
        {
            var connection = await dataSource.OpenConnectionAsync();
            held.Add(connection);
            await SelectOneAsync(connection);
        }
    }

    /// <summary>
    /// Opens <paramref name="count"/> connections with <paramref name="open"/>, each running <c>SELECT 1</c>, into
    /// <paramref name="held"/>; returns each failed request, described, instead of stopping at the first.
    /// </summary>
    internal static async Task<List<string>> OpenEachAsync(Func<Task<NpgsqlConnection>> open, int count, ConnectionSet held)
    {
        var failures = new List<string>();
        for (var i = 0; i < count; i++)
        {
            try
            {
                var connection = await open();
                held.Add(connection);
                await SelectOneAsync(connection);
            }
            catch (Exception e)
            {
                failures.Add(Describe(i, e));
            }
        }

        return failures;
    }

    /// <summary>Every node running again: killed or stopped ones started, paused ones resumed.</summary>
    internal static async Task RestoreAsync(Cluster cluster)
    {
        foreach (var node in cluster.Nodes)
        {
            if (node.State == NodeState.Paused)
                await cluster.ResumeNodeAsync(node.Index);
            else if (node.State is NodeState.Killed or NodeState.Stopped)
                await cluster.StartNodeAsync(node.Index);
        }
    }
}

/// <summary>Collects every unmet requirement of a test, so that one failure reports them all.</summary>
sealed class Verdict
{
    readonly List<string> _problems = [];

    public void Check(bool met, string problem)
    {
        if (!met)
            _problems.Add(problem);
    }

    public void Equal(string expected, string actual, string what) => Check(expected == actual, $"{what}: expected {expected}, actual {actual}");

    public void NoFailures(IReadOnlyCollection<string> failures, int requests) =>
        Check(failures.Count == 0, $"{failures.Count} of {requests} requests failed: {string.Join("; ", failures.Take(12))}");

    public void Assert(BrightDbDataSource? dataSource = null) =>
        Xunit.Assert.True(_problems.Count == 0, string.Join("\n", _problems) + (dataSource is null ? "" : Counts.Explain(dataSource)));
}

/// <summary>
/// Node 2 crashed while <c>yb_servers()</c> still lists it, and node 2 hung: whatever the way a connection is obtained,
/// it works, and the counts say where it is. The cluster is shared by the tests of the class; each restores it.
/// </summary>
public sealed class EveryPathKilledNodeTests(ThreeZonesClusterFixture fixture) : IClassFixture<ThreeZonesClusterFixture>
{
    Cluster Cluster => fixture.Cluster;

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public Task CreateConnection_then_Open_with_a_killed_listed_node_succeeds_and_spreads_6_0_6(bool pooling, bool async) =>
        CreateThenOpenWithNodeTwoKilledAsync($"every-create-{EveryPath.Mode(pooling)}-{(async ? "async" : "sync")}", pooling, async, ds => ds.CreateConnection());

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public Task DbDataSource_CreateConnection_then_Open_with_a_killed_listed_node_succeeds_and_spreads_6_0_6(bool pooling, bool async) =>
        CreateThenOpenWithNodeTwoKilledAsync($"every-dbds-{EveryPath.Mode(pooling)}-{(async ? "async" : "sync")}", pooling, async,
            ds => ((DbDataSource)ds).CreateConnection());

    async Task CreateThenOpenWithNodeTwoKilledAsync(string app, bool pooling, bool async, Func<BrightDbDataSource, DbConnection> create)
    {
        await using var ds = Counts.Create(EveryPath.ConnectionString(Cluster, app, pooling));
        // Used once before the crash: the data source knows the topology, node 2 included.
        await using (var first = await ds.OpenConnectionAsync())
            await EveryPath.SelectOneAsync(first);

        var killed = Cluster.Nodes[1];
        await Cluster.KillNodeAsync(killed.Index);
        var held = new List<DbConnection>();
        try
        {
            var failures = new List<string>();
            for (var i = 0; i < 12; i++)
            {
                try
                {
                    var connection = create(ds);
                    held.Add(connection);
                    if (async)
                    {
                        await connection.OpenAsync();
                        await EveryPath.SelectOneAsync(connection);
                    }
                    else
                    {
                        EveryPath.OpenAndSelectOne(connection);
                    }
                }
                catch (Exception e)
                {
                    failures.Add(EveryPath.Describe(i, e));
                }
            }

            var verdict = new Verdict();
            verdict.NoFailures(failures, 12);
            verdict.Equal("6/0/6", Counts.Map(ds, Cluster), "driver map");
            verdict.Equal("6/0/6", await EveryPath.ServersEventuallyAsync(Cluster, app, "6/0/6"), "servers");
            verdict.Assert(ds);
        }
        finally
        {
            foreach (var connection in held)
                await connection.DisposeAsync();
            await EveryPath.RestoreAsync(Cluster);
        }
    }

    [Fact]
    public Task Pooled_idle_connections_then_a_killed_node_OpenConnectionAsync_hands_out_only_working_connections() =>
        PooledIdleThenKilledAsync("every-idle-open", async ds => await ds.OpenConnectionAsync());

    [Fact]
    public Task Pooled_idle_connections_then_a_killed_node_CreateConnection_OpenAsync_hands_out_only_working_connections() =>
        PooledIdleThenKilledAsync("every-idle-create", async ds =>
        {
            var connection = ds.CreateConnection();
            try
            {
                await connection.OpenAsync();
                return connection;
            }
            catch
            {
                await connection.DisposeAsync();
                throw;
            }
        });

    async Task PooledIdleThenKilledAsync(string app, Func<BrightDbDataSource, Task<NpgsqlConnection>> open)
    {
        await using var ds = Counts.Create(EveryPath.ConnectionString(Cluster, app, pooling: true));
        await using (var first = new ConnectionSet())
            await EveryPath.OpenHeldAsync(ds, 12, first);
        // All twelve returned: they idle in their servers' pools, four on each.
        Counts.AssertMap("4/4/4", ds, Cluster);
        Assert.Equal("4/4/4", await EveryPath.ServersEventuallyAsync(Cluster, app, "4/4/4"));

        var killed = Cluster.Nodes[1];
        await Cluster.KillNodeAsync(killed.Index);
        try
        {
            await using var held = new ConnectionSet();
            var failures = await EveryPath.OpenEachAsync(() => open(ds), 12, held);

            var (map, servers) = await EveryPath.MapAndServersEventuallyAsync(ds, Cluster, app);
            var verdict = new Verdict();
            verdict.NoFailures(failures, 12);
            verdict.Equal(servers, map, "driver map against the servers' counts");
            verdict.Equal("0", map.Split('/')[1], "driver map on the killed node 2");
            verdict.Assert(ds);
        }
        finally
        {
            await EveryPath.RestoreAsync(Cluster);
        }
    }

    [Fact]
    public async Task Paused_node_every_open_is_well_under_Timeout_and_nothing_is_counted_on_it()
    {
        var app = "every-pause";
        await using var ds = Counts.Create(EveryPath.ConnectionString(Cluster, app, pooling: false, hedgedOpenDelay: 500, extra: "Timeout=10"));
        await using (var first = await ds.OpenConnectionAsync())
            await EveryPath.SelectOneAsync(first);

        var paused = Cluster.Nodes[1];
        var others = new[] { Cluster.Nodes[0], Cluster.Nodes[2] };
        await Cluster.PauseNodeAsync(paused.Index);
        try
        {
            await using var held = new ConnectionSet();
            var failures = new List<string>();
            var slow = new List<string>();
            for (var i = 0; i < 30; i++)
            {
                var watch = Stopwatch.StartNew();
                try
                {
                    var connection = await ds.OpenConnectionAsync();
                    watch.Stop();
                    held.Add(connection);
                    await EveryPath.SelectOneAsync(connection);
                }
                catch (Exception e)
                {
                    watch.Stop();
                    failures.Add(EveryPath.Describe(i, e));
                }

                // Well under Timeout (10 s): a hung server costs an open one hedge delay (0.5 s), not a Timeout.
                if (watch.Elapsed >= TimeSpan.FromSeconds(5))
                    slow.Add($"#{i}: {watch.Elapsed.TotalSeconds:F1} s");
            }

            var map = ds.GetHostToConnectionMap();
            var verdict = new Verdict();
            verdict.NoFailures(failures, 30);
            verdict.Check(slow.Count == 0, $"opens not under 5 s: {string.Join(", ", slow)}");
            // An attempt abandoned on the hung server and still waiting there is no connection of the application.
            verdict.Equal("0", map.TryGetValue(paused.Host, out var onPaused) ? onPaused.ToString(CultureInfo.InvariantCulture) : "-",
                "driver map on the paused node 2");
            var onOthers = others.Sum(n => map.GetValueOrDefault(n.Host));
            verdict.Check(onOthers == 30, $"driver map on nodes 1 and 3: expected 30 in all, actual {onOthers} ({Counts.Map(ds, Cluster)})");
            var hosts = held.Select(c => c.Host).ToList();
            verdict.Check(hosts.All(h => others.Any(n => n.Host == h)),
                $"held connections on the paused node: {hosts.Count(h => h == paused.Host)} of {hosts.Count}");
            // The paused server cannot be asked (it is not counted: "-"); the two others must count what the map says.
            var expectedServers = Counts.Format([map.GetValueOrDefault(others[0].Host), null, map.GetValueOrDefault(others[1].Host)]);
            verdict.Equal(expectedServers, await Counts.ServerEventuallyAsync(Cluster, app, expectedServers), "servers (node 2 paused, not asked)");
            verdict.Assert(ds);
        }
        finally
        {
            await EveryPath.RestoreAsync(Cluster);
        }
    }
}

/// <summary>
/// A new data source's first connection is chosen like every other: ten separate data sources (ten application
/// instances, say) each opening one connection spread over the cluster, instead of all landing on the listed host.
/// </summary>
public sealed class EveryPathFirstConnectionTests(ThreeZonesClusterFixture fixture) : IClassFixture<ThreeZonesClusterFixture>
{
    const int Trials = 60;
    const int DataSourcesPerTrial = 10;

    /// <summary>A trial is good when no node holds more than twice the mean (10 connections over 3 nodes).</summary>
    const double MaxPerNode = 2.0 * DataSourcesPerTrial / 3;

    /// <summary>At least 85 % of the trials are good.</summary>
    const int GoodTrialsRequired = 51;

    Cluster Cluster => fixture.Cluster;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task First_connection_of_each_of_ten_data_sources_is_chosen_like_every_other(bool pooling)
    {
        var good = 0;
        var spreads = new List<string>();
        var mapMismatches = new List<string>();
        for (var trial = 1; trial <= Trials; trial++)
        {
            var app = $"every-first-{EveryPath.Mode(pooling)}-{trial}";
            var sources = new List<BrightDbDataSource>();
            var held = new ConnectionSet();
            try
            {
                for (var i = 0; i < DataSourcesPerTrial; i++)
                {
                    var ds = Counts.Create(EveryPath.ConnectionString(Cluster, app, pooling));
                    sources.Add(ds);
                    var connection = await ds.OpenConnectionAsync();
                    held.Add(connection);
                    await EveryPath.SelectOneAsync(connection);
                }

                var maps = sources.Select(s => s.GetHostToConnectionMap()).ToList();
                var mapTotals = Counts.Format(Cluster.Nodes.Select(n => (int?)maps.Sum(m => m.GetValueOrDefault(n.Host))));
                var servers = await EveryPath.ServersEventuallyAsync(Cluster, app, mapTotals);
                if (servers != mapTotals)
                    mapMismatches.Add($"trial {trial}: maps {mapTotals}, servers {servers}");
                var counts = servers.Split('/').Select(c => int.Parse(c, CultureInfo.InvariantCulture)).ToList();
                if (counts.Max() <= MaxPerNode)
                    good++;
                spreads.Add(servers);
            }
            finally
            {
                await held.DisposeAsync();
                foreach (var source in sources)
                    await source.DisposeAsync();
            }
        }

        var verdict = new Verdict();
        verdict.Check(good >= GoodTrialsRequired,
            $"{good} of {Trials} trials with no node above twice the mean, {GoodTrialsRequired} required; servers' counts per trial: "
            + string.Join(", ", spreads.GroupBy(s => s).OrderByDescending(g => g.Count()).Select(g => $"{g.Key} x{g.Count()}")));
        verdict.Check(mapMismatches.Count == 0, $"driver maps against the servers: {string.Join("; ", mapMismatches.Take(10))}");
        verdict.Assert();
    }

    /// <summary>
    /// The same with ten real OS processes, each a worker of the balance benchmark (<c>bench/BrightDb.Benchmarks
    /// balance-worker</c>): in every trial each process creates a new data source, and all ten open one connection at
    /// once. Only the servers' counts are seen from here: each process's map is its own. The processes live for all the
    /// trials of a mode (starting 1200 processes would take most of the suite's time on two cores).
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task First_connection_of_each_of_ten_processes_is_chosen_like_every_other(bool pooling)
    {
        var worker = BalanceWorkers.Assembly();
        var good = 0;
        var spreads = new List<string>();
        var prefix = $"every-proc-{EveryPath.Mode(pooling)}-";
        var processes = new List<Process>();
        try
        {
            for (var i = 0; i < DataSourcesPerTrial; i++)
                processes.Add(BalanceWorkers.Start(worker, EveryPath.ConnectionString(Cluster, prefix + "{trial}", pooling), Trials));
            for (var trial = 1; trial <= Trials; trial++)
            {
                // Every process has its new data source ready; then all open at once.
                foreach (var process in processes)
                    await BalanceWorkers.ExpectAsync(process, "ready", trial);
                foreach (var process in processes)
                    await process.StandardInput.WriteLineAsync("go");
                foreach (var process in processes)
                    await BalanceWorkers.ExpectAsync(process, "open", trial);

                var servers = await EveryPath.ServersWithTotalEventuallyAsync(Cluster, prefix + trial, DataSourcesPerTrial);
                var counts = servers.Split('/').Select(c => int.Parse(c, CultureInfo.InvariantCulture)).ToList();
                Assert.True(counts.Sum() == DataSourcesPerTrial, $"trial {trial}: the servers count {servers}, not {DataSourcesPerTrial} connections in all");
                if (counts.Max() <= MaxPerNode)
                    good++;
                spreads.Add(servers);

                foreach (var process in processes)
                    await process.StandardInput.WriteLineAsync("close");
            }

            await BalanceWorkers.ExpectCleanExitsAsync(processes);
        }
        finally
        {
            BalanceWorkers.KillAndDispose(processes);
        }

        Assert.True(good >= GoodTrialsRequired,
            $"{good} of {Trials} trials with no node above twice the mean, {GoodTrialsRequired} required; servers' counts per trial: "
            + string.Join(", ", spreads.GroupBy(s => s).OrderByDescending(g => g.Count()).Select(g => $"{g.Key} x{g.Count()}")));
    }
}

/// <summary>A node joins: with a refresh interval, the driver learns of it without any open, and the next opens fill it.</summary>
[Collection(nameof(Support.TimedCollection))]
public sealed class EveryPathNodeJoinsTests : IAsyncLifetime
{
    Cluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await Cluster.StartAsync(EveryPath.Zone2a, EveryPath.Zone2b, EveryPath.Zone2c);

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task Joined_node_is_learned_by_the_refresh_interval_without_opens_and_takes_all_of_the_next_10_opens()
    {
        var app = "every-join";
        await using var ds = Counts.Create(EveryPath.ConnectionString(_cluster, app, pooling: false, extra: "YB Servers Refresh Interval=1"));
        await using var held = new ConnectionSet();
        await EveryPath.OpenHeldAsync(ds, 30, held);
        Counts.AssertMap("10/10/10", ds, _cluster);
        Assert.Equal("10/10/10", await EveryPath.ServersEventuallyAsync(_cluster, app, "10/10/10"));

        var joined = await _cluster.AddNodeAsync(new NodeSpec(Placement.Parse(EveryPath.Zone2a)));
        // No open at all for more than two refresh intervals: the refresh is the driver's own doing. This wait is the
        // behaviour under test, not a synchronisation.
        await Task.Delay(TimeSpan.FromSeconds(2.5));

        var failures = new List<string>();
        var hosts = new List<string>();
        for (var i = 0; i < 10; i++)
        {
            try
            {
                var connection = await ds.OpenConnectionAsync();
                held.Add(connection);
                hosts.Add(connection.Host ?? "?");
                await EveryPath.SelectOneAsync(connection);
            }
            catch (Exception e)
            {
                failures.Add(EveryPath.Describe(i, e));
            }
        }

        var verdict = new Verdict();
        verdict.NoFailures(failures, 10);
        verdict.Check(hosts.Count == 10 && hosts.All(h => h == joined.Host),
            $"the 10 opens after the join: expected all on the new node {joined.Host}, actual {string.Join(", ", hosts)}");
        verdict.Equal("10/10/10/10", Counts.Map(ds, _cluster), "driver map");
        verdict.Equal("10/10/10/10", await EveryPath.ServersEventuallyAsync(_cluster, app, "10/10/10/10"), "servers");
        verdict.Assert(ds);
    }
}

/// <summary>
/// The preferred zone goes away under load: 60 workers open, query and close on the two us-west-2a nodes when both are
/// stopped. Only the requests holding a connection there at that moment may fail; every later one runs on node 3.
/// </summary>
public sealed class EveryPathZoneStopTests : IAsyncLifetime
{
    const int Workers = 60;
    const int MaxRequestsPerWorker = 1000;
    const int RequestsBeforeStop = 300;

    Cluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await Cluster.StartAsync(EveryPath.Zone2a, EveryPath.Zone2a, EveryPath.Zone2b);

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task Both_preferred_nodes_stopped_under_60_workers_fail_at_most_the_requests_in_flight_then_node_3_serves()
    {
        var app = "every-zone-stop";
        await using var ds = Counts.Create(EveryPath.ConnectionString(_cluster, app, pooling: true, extra: $"Topology Keys={EveryPath.Zone2a}"));
        var node3 = _cluster.Nodes[2];
        var inFlight = 0;
        var succeeded = 0;
        var failed = 0;
        var stopDone = 0;
        var failures = new ConcurrentQueue<string>();
        var hostsAfterStop = new ConcurrentQueue<string>();
        var failedAfterStop = 0;
        // Bounded in time as well as in count: the workers end after two minutes whatever happens.
        using var end = new CancellationTokenSource(TimeSpan.FromMinutes(2));

        async Task WorkerAsync()
        {
            for (var request = 0; request < MaxRequestsPerWorker && !end.IsCancellationRequested; request++)
            {
                var afterStop = Volatile.Read(ref stopDone) == 1;
                NpgsqlConnection? connection = null;
                var holding = false;
                try
                {
                    connection = await ds.OpenConnectionAsync();
                    Interlocked.Increment(ref inFlight);
                    holding = true;
                    var host = connection.Host ?? "?";
                    await using (var command = new NpgsqlCommand("SELECT pg_sleep(0.01)", connection))
                        await command.ExecuteNonQueryAsync();
                    Interlocked.Increment(ref succeeded);
                    if (afterStop)
                        hostsAfterStop.Enqueue(host);
                }
                catch (Exception e)
                {
                    Interlocked.Increment(ref failed);
                    if (afterStop)
                        Interlocked.Increment(ref failedAfterStop);
                    failures.Enqueue($"{(afterStop ? "after" : "around")} the stop: {e.GetType().Name}: {e.Message.Split('\n')[0]}");
                }
                finally
                {
                    if (connection is not null)
                        await connection.DisposeAsync();
                    if (holding)
                        Interlocked.Decrement(ref inFlight);
                }
            }
        }

        var workers = Enumerable.Range(0, Workers).Select(_ => Task.Run(WorkerAsync)).ToArray();
        int inFlightAtStop;
        int failedBeforeStop;
        var maxInFlightWhileStopping = 0;
        try
        {
            await ClusterWaits.UntilAsync(
                () => Task.FromResult(Volatile.Read(ref succeeded) + Volatile.Read(ref failed) >= RequestsBeforeStop),
                $"{RequestsBeforeStop} requests before the stop", 60);
            inFlightAtStop = Volatile.Read(ref inFlight);
            failedBeforeStop = Volatile.Read(ref failed);
            // The servers end their backends at some moment while the stop command runs: the requests in flight "at that
            // moment" are at most the most that held a connection at any time during the stop.
            maxInFlightWhileStopping = inFlightAtStop;
            using var stopping = new CancellationTokenSource();
            var sampler = Task.Run(async () =>
            {
                while (!stopping.IsCancellationRequested)
                {
                    maxInFlightWhileStopping = Math.Max(maxInFlightWhileStopping, Volatile.Read(ref inFlight));
                    await Task.Delay(1);
                }
            });
            await Task.WhenAll(_cluster.StopNodeAsync(1), _cluster.StopNodeAsync(2));
            await stopping.CancelAsync();
            await sampler;
            Volatile.Write(ref stopDone, 1);
            // The workers go on for 3 s with node 3 alone: this is the behaviour under test, not a synchronisation.
            await Task.Delay(TimeSpan.FromSeconds(3));
        }
        finally
        {
            await end.CancelAsync();
            await Task.WhenAll(workers).WaitAsync(TimeSpan.FromSeconds(60));
        }

        // The stopped servers left yb_servers(): absent from the map ("-") as from the servers' counts.
        var map = Counts.Map(ds, _cluster);
        var servers = await Counts.ServerEventuallyAsync(_cluster, app, map);
        var verdict = new Verdict();
        verdict.Check(failed <= maxInFlightWhileStopping && failedBeforeStop == 0 && failedAfterStop == 0,
            $"{failed} requests failed ({failedBeforeStop} before the stop, {failedAfterStop} started after it), more than the at most "
            + $"{maxInFlightWhileStopping} holding a connection while the two servers were stopping ({inFlightAtStop} when the stop began), "
            + $"or failures outside the stop; {succeeded} succeeded. Failures: {string.Join("; ", failures.Take(10))}");
        var after = hostsAfterStop.ToList();
        verdict.Check(after.Count > 0, "no request started after the stop succeeded");
        verdict.Check(after.All(h => h == node3.Host),
            $"requests after the stop: {after.Count(h => h == node3.Host)} on node 3, {after.Count(h => h != node3.Host)} elsewhere");
        verdict.Equal(servers, map, "driver map against the servers' counts at the end");
        verdict.Assert(ds);
    }
}
