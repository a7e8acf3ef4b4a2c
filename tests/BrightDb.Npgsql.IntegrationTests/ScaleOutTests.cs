using System.Collections.Concurrent;
using System.Diagnostics;
using BrightDb.LocalCluster;
using Npgsql;
using BrightDb.Npgsql.IntegrationTests.Support;
using Xunit.Abstractions;

namespace BrightDb.Npgsql.IntegrationTests;

/// <summary>
/// A node joins while 60 workers run open / query / close loops on a pooled data source: the work moves to it within two
/// refresh intervals without a failed request, and the servers' own connection counts, idle connections included, even
/// out within 30 s: the idle connections left on the old servers are closed after the pools' idle lifetime (15 s with
/// balancing on).
/// </summary>
[Collection(nameof(Support.TimedCollection))]
public sealed class ScaleOutTests(ITestOutputHelper output) : IAsyncLifetime
{
    const int Workers = 60;
    static readonly TimeSpan RefreshInterval = TimeSpan.FromSeconds(2);
    static readonly TimeSpan ConvergenceBound = TimeSpan.FromSeconds(30);

    LocalCluster.LocalCluster _cluster = null!;

    public async Task InitializeAsync() =>
        _cluster = await LocalCluster.LocalCluster.StartAsync("aws.us-west.us-west-2a", "aws.us-west.us-west-2b", "aws.us-west.us-west-2c");

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task Work_moves_to_a_joining_node_and_the_servers_connections_even_out()
    {
        const string app = "scale-out";
        var listed = _cluster.Nodes[0];
        // Hedging waits long: a loaded machine must not trip it on a healthy server and skew the counts. The pools' idle
        // connection retirement is left at the driver's defaults.
        await using var ds = BrightDbDataSource.Create(
            $"Host={listed.Host};Port={listed.Port};Database=bigmath;Username=bigmath;Password={_cluster.Password};Load Balance Hosts=true;" +
            $"Application Name={app};YB Servers Refresh Interval={RefreshInterval.TotalSeconds};Hedged Open Delay=10000;Timeout=30");

        // Queries served per second and per host; failures with their messages.
        var served = new ConcurrentDictionary<(int Second, string Host), int>();
        var failures = new ConcurrentQueue<string>();
        var clock = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource();
        var workers = Enumerable.Range(0, Workers).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await using var connection = await ds.OpenConnectionAsync();
                    await using var command = new NpgsqlCommand("select pg_sleep(0.005)", connection);
                    await command.ExecuteNonQueryAsync();
                    served.AddOrUpdate(((int)clock.Elapsed.TotalSeconds, connection.Host!), 1, (_, n) => n + 1);
                }
                catch (Exception e)
                {
                    failures.Enqueue($"{clock.Elapsed.TotalSeconds:F1} s: {e.GetType().Name}: {e.Message}");
                }
            }
        })).ToList();

        LocalNode? joined = null;
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(5));
            output.WriteLine($"before the join, servers hold {await Counts.ServerAsync(_cluster, app)}");
            joined = await _cluster.AddNodeAsync(new NodeSpec(Placement.Parse("aws.us-west.us-west-2d")));
            var joinedAt = clock.Elapsed;
            output.WriteLine($"node 4 joined at {joinedAt.TotalSeconds:F1} s");

            // The servers' counts, every second, for the bound and 10 s more. What a server holds is the median of its last five
            // counts (a pool shrinks and grows again by a few as the workers' demand on it varies from moment to moment). They
            // are even when each differs from their mean by less than 20%, and must be from the bound on.
            var samples = new List<int[]>();
            var unevenAfterBound = new List<string>();
            TimeSpan? evenAt = null;
            while (clock.Elapsed - joinedAt < ConvergenceBound + TimeSpan.FromSeconds(10))
            {
                await Task.Delay(TimeSpan.FromSeconds(1));
                var counts = await _cluster.GetClientConnectionCountsAsync(app);
                samples.Add([.. _cluster.Nodes.Select(n => counts.GetValueOrDefault(n.Index))]);
                var since = clock.Elapsed - joinedAt;
                var held = Enumerable.Range(0, _cluster.Nodes.Count)
                    .Select(node => samples.TakeLast(5).Select(sample => sample[node]).Order().ElementAt(Math.Min(samples.Count, 5) / 2))
                    .ToArray();
                var mean = held.Average();
                var even = samples.Count >= 5 && held.All(v => Math.Abs(v - mean) < 0.2 * mean);
                output.WriteLine($"{since.TotalSeconds,5:F1} s after the join: servers hold {string.Join('/', samples[^1])}, median of the last five {string.Join('/', held)}{(even ? " (within 20% of even)" : "")}");
                evenAt = even ? evenAt ?? since : null;
                if (!even && since >= ConvergenceBound)
                    unevenAfterBound.Add($"{since.TotalSeconds:F1} s: {string.Join('/', held)}");
            }

            await stop.CancelAsync();
            await Task.WhenAll(workers);

            // The work's share per node, second by second after the join.
            var hosts = _cluster.Nodes.Select(n => n.Host).ToArray();
            var firstSecond = (int)joinedAt.TotalSeconds;
            var lastSecond = (int)clock.Elapsed.TotalSeconds - 1;
            int? sharedFrom = null;
            for (var second = firstSecond; second <= lastSecond; second++)
            {
                var perHost = hosts.Select(h => served.GetValueOrDefault((second, h))).ToArray();
                var total = perHost.Sum();
                var shares = perHost.Select(n => total == 0 ? 0 : 100.0 * n / total).ToArray();
                var fair = shares.All(s => s is >= 20 and <= 30);
                if (fair && sharedFrom is null)
                    sharedFrom = second;
                output.WriteLine($"second {second - firstSecond,3} after the join: {string.Join(" / ", shares.Select(s => $"{s:F0}%"))} of {total}");
            }

            var verdict = new Verdict();
            verdict.NoFailures([.. failures], served.Values.Sum() + failures.Count);
            verdict.Check(sharedFrom is not null && sharedFrom - firstSecond < 2 * RefreshInterval.TotalSeconds + 1,
                $"the work's shares were not all within 20-30% within two refresh intervals ({2 * RefreshInterval.TotalSeconds} s) of the join (first such second: {(sharedFrom is null ? "never" : (sharedFrom - firstSecond).ToString())})");
            verdict.Check(unevenAfterBound.Count == 0,
                $"the servers' connection counts were not within 20% of even from {ConvergenceBound.TotalSeconds} s after the join on: {string.Join("; ", unevenAfterBound)}");
            output.WriteLine($"even from {(evenAt is null ? "never" : $"{evenAt.Value.TotalSeconds:F1} s")} after the join on");
            verdict.Assert();
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(workers);
            if (joined is not null)
                await _cluster.RemoveNodeAsync(joined.Index);
        }
    }

    [Fact]
    public async Task Held_connections_even_out_when_the_application_closes_and_reopens_them_one_a_second()
    {
        const string app = "scale-out-held";
        var listed = _cluster.Nodes[0];
        await using var ds = BrightDbDataSource.Create(
            $"Host={listed.Host};Port={listed.Port};Database=bigmath;Username=bigmath;Password={_cluster.Password};Load Balance Hosts=true;" +
            $"Application Name={app};YB Servers Refresh Interval={RefreshInterval.TotalSeconds};Hedged Open Delay=10000;Timeout=30");
        var held = new List<NpgsqlConnection>();
        for (var i = 0; i < 60; i++)
            held.Add(await ds.OpenConnectionAsync());
        output.WriteLine($"60 held: servers hold {await Counts.ServerAsync(_cluster, app)}");

        var joined = await _cluster.AddNodeAsync(new NodeSpec(Placement.Parse("aws.us-west.us-west-2d")));
        try
        {
            await Task.Delay(RefreshInterval * 2);
            var failures = new List<string>();
            var expected = "15/15/15/15";
            var clock = Stopwatch.StartNew();
            string servers = "";
            // One connection a second, oldest first, is closed and another opened (each used at once), until the servers
            // hold 15 each, idle connections included, or two rotations and the pools' idle lifetime have passed.
            var reopened = 0;
            for (var second = 0; second < 150; second++)
            {
                reopened++;
                var index = second % held.Count;
                await held[index].DisposeAsync();
                try
                {
                    held[index] = await ds.OpenConnectionAsync();
                    await using var command = new NpgsqlCommand("select 1", held[index]);
                    await command.ExecuteScalarAsync();
                }
                catch (Exception e)
                {
                    failures.Add($"{second} s: {e.GetType().Name}: {e.Message}");
                    held[index] = await ds.OpenConnectionAsync();
                }

                servers = await Counts.ServerAsync(_cluster, app);
                if (second % 5 == 0)
                    output.WriteLine($"{clock.Elapsed.TotalSeconds,5:F1} s: servers hold {servers}, the driver's map {Counts.Map(ds, _cluster)}");
                if (Close(servers, expected))
                    break;
                await Task.Delay(TimeSpan.FromSeconds(1) - TimeSpan.FromMilliseconds(clock.Elapsed.TotalMilliseconds % 1000));
            }

            output.WriteLine($"after {clock.Elapsed.TotalSeconds:F1} s: servers hold {servers}");
            var verdict = new Verdict();
            verdict.NoFailures(failures, reopened);
            verdict.Check(Close(servers, expected), $"the servers hold {servers}, not {expected} ± 1 each");
            verdict.Assert(ds);
        }
        finally
        {
            await Counts.DisposeAllAsync(held);
            await _cluster.RemoveNodeAsync(joined.Index);
        }

        static bool Close(string counts, string expected) =>
            counts.Split('/').Zip(expected.Split('/')).All(p => int.TryParse(p.First, out var actual) && Math.Abs(actual - int.Parse(p.Second)) <= 1);
    }
}
