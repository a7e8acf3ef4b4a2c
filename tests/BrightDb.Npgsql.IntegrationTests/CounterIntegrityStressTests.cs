using System.Globalization;
using Npgsql;

namespace BrightDb.Npgsql.IntegrationTests;

/// <summary>
/// 64 tasks open, query and close while nodes are killed, paused, resumed, stopped and restarted; afterwards nothing
/// stays counted, and the driver's map equals what the servers report. The cycle count is
/// <c>BRIGHTDB_STRESS_CYCLES</c> (total over all tasks); CI runs the short default, the long form is 100000.
/// </summary>
[Collection(nameof(StressCollection))]
public sealed class CounterIntegrityStressTests : IAsyncLifetime
{
    const int Tasks = 64;
    LocalCluster.LocalCluster _cluster = null!;

    public async Task InitializeAsync() =>
        _cluster = await LocalCluster.LocalCluster.StartAsync("aws.us-west.us-west-2a", "aws.us-west.us-west-2b", "aws.us-west.us-west-2c");

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    static int Cycles(int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable("BRIGHTDB_STRESS_CYCLES"), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : fallback;

    [Theory]
    [InlineData(true, 12_800)]
    [InlineData(false, 1_920)]
    public async Task Counts_return_to_zero_and_match_the_servers_after_chaos(bool pooling, int defaultCycles)
    {
        var app = pooling ? "stress-pooled" : "stress-unpooled";
        var cycles = Cycles(defaultCycles);
        await using var ds = BrightDbDataSource.Create(
            $"Host={_cluster.Nodes[0].Host},{_cluster.Nodes[1].Host};Port={_cluster.Nodes[0].Port};Database=bigmath;Username=bigmath;Password=bigmath;" +
            $"Load Balance Hosts=true;Pooling={pooling};Maximum Pool Size=40;Timeout=10;Command Timeout=5;Hedged Open Delay=1000;" +
            $"Failed Host Reconnect Delay Secs=1;YB Servers Refresh Interval=1;Application Name={app}");

        var remaining = cycles;
        var succeeded = 0;
        var failed = 0;
        var errors = new System.Collections.Concurrent.ConcurrentDictionary<string, int>();
        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(3));

        async Task Worker(int id)
        {
            var random = new Random(id);
            while (Interlocked.Decrement(ref remaining) >= 0 && !stop.IsCancellationRequested)
            {
                try
                {
                    using var perOpen = CancellationTokenSource.CreateLinkedTokenSource(stop.Token);
                    // Some opens are cancelled at once or shortly after starting: they must leave nothing counted.
                    if (random.Next(50) == 0)
                        perOpen.CancelAfter(random.Next(3));
                    await using var connection = await ds.OpenConnectionAsync(perOpen.Token);
                    await using var command = new NpgsqlCommand("select 1", connection);
                    await command.ExecuteScalarAsync(stop.Token);
                    Interlocked.Increment(ref succeeded);
                }
                catch (Exception e) when (e is NpgsqlException or OperationCanceledException or InvalidOperationException or TimeoutException)
                {
                    Interlocked.Increment(ref failed);
                    var key = e.GetType().Name + ": " + (e.Message.Length > 160 ? e.Message[..160] : e.Message);
                    errors.AddOrUpdate(key, 1, (_, n) => n + 1);
                }
            }
        }

        async Task Chaos()
        {
            // Timed so that every fault overlaps running opens even in the short form.
            await Task.Delay(300);
            await _cluster.KillNodeAsync(3);
            await Task.Delay(700);
            await _cluster.StartNodeAsync(3);
            await Task.Delay(300);
            await _cluster.PauseNodeAsync(2);
            await Task.Delay(1200);
            await _cluster.ResumeNodeAsync(2);
            await Task.Delay(300);
            await _cluster.StopNodeAsync(1);
            await Task.Delay(700);
            await _cluster.StartNodeAsync(1);
        }

        var workers = Enumerable.Range(0, Tasks).Select(i => Task.Run(() => Worker(i))).ToList();
        await Chaos();
        await Task.WhenAll(workers);
        Assert.False(stop.IsCancellationRequested, "the stress run did not finish in time");
        // Faults make some cycles fail by design; most must still succeed, or the run did not exercise the paths it claims to.
        Assert.True(succeeded > cycles / 4, $"{succeeded} of {cycles} cycles succeeded ({failed} failed): " +
            string.Join(" | ", errors.OrderByDescending(p => p.Value).Take(6).Select(p => $"{p.Value}× {p.Key}")));

        // Nothing is held any more: no server counts a connection as in use.
        await WaitUntil(() => ds.ActiveEndpoints().All(e => e.InUse == 0),
            () => string.Join(", ", ds.ActiveEndpoints().Select(e => $"{e}={e.InUse}")));

        if (!pooling)
        {
            Assert.All(ds.GetHostToConnectionMap().Values, v => Assert.Equal(0, v));
        }

        // At quiescence the map equals what each server reports. Pooled, a server killed and restarted quickly enough that
        // no open was refused leaves idle connections to its dead process in the pool, which Npgsql does not validate
        // until they are used: they are dropped first (docs/pooling-and-counts.md), and every live connection must match.
        if (pooling)
        {
            foreach (var endpoint in ds.ActiveEndpoints())
                endpoint.ClearPool();
        }

        await ds.RefreshTopologyAsync();
        await WaitUntil(async () => await MapMatchesServers(ds, app), () => $"map differs from the servers' counts: {_lastComparison}");

        // Held connections are counted exactly on both sides as well (where they land depends on which servers the
        // chaos left marked down; that they are counted exactly does not).
        var held = new List<NpgsqlConnection>();
        for (var i = 0; i < 30; i++)
            held.Add(await ds.OpenConnectionAsync());
        Assert.Equal(30, ds.ActiveEndpoints().Sum(e => e.InUse));
        await WaitUntil(async () => await MapMatchesServers(ds, app), () => $"map differs from the servers' counts while 30 are held: {_lastComparison}");
        foreach (var c in held)
            await c.DisposeAsync();
        Assert.All(ds.ActiveEndpoints(), e => Assert.Equal(0, e.InUse));
        if (!pooling)
            Assert.All(ds.GetHostToConnectionMap().Values, v => Assert.Equal(0, v));
    }

    string _lastComparison = "";

    async Task<bool> MapMatchesServers(BrightDbDataSource ds, string app)
    {
        var map = ds.GetHostToConnectionMap();
        var servers = await _cluster.GetClientConnectionCountsAsync(app);
        _lastComparison = string.Join(", ", _cluster.Nodes.Select(n => $"{n.Host} map {map.GetValueOrDefault(n.Host)} server {servers.GetValueOrDefault(n.Index)}"));
        return _cluster.Nodes.All(n => map.GetValueOrDefault(n.Host) == servers.GetValueOrDefault(n.Index));
    }

    static Task WaitUntil(Func<bool> condition, Func<string> describe) => WaitUntil(() => Task.FromResult(condition()), describe);

    static async Task WaitUntil(Func<Task<bool>> condition, Func<string> describe)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "not reached within 30 s: " + describe());
            await Task.Delay(200);
        }
    }
}

/// <summary>The stress test runs alone: it loads both cores, and timing-based behaviour elsewhere would suffer from it.</summary>
[CollectionDefinition(nameof(StressCollection), DisableParallelization = true)]
public sealed class StressCollection;
