using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using BrightDb.LocalCluster;
using BrightDb.Npgsql;
using Npgsql;
using Cluster = BrightDb.LocalCluster.LocalCluster;

namespace BrightDb.Benchmarks;

/// <summary>
/// The curves: 60 workers in open / query / close loops on a pooled data source that prefers one zone, while the cluster
/// changes under them. Every second it records the queries each node served and the client connections each server
/// holds, then draws both over time (<see cref="CurvesPlot"/>).
/// </summary>
/// <remarks>
/// The timeline: nodes 1 and 2 in the preferred zone (us-west-2a), node 3 in the fallback zone (us-west-2b); node 4 joins
/// the preferred zone; later the whole preferred zone stops (its nodes leave <c>yb_servers()</c>), then starts again.
/// </remarks>
static class CurvesHarness
{
    const string Preferred = "aws.us-west.us-west-2a";
    const string Fallback = "aws.us-west.us-west-2b";

    /// <summary>One second of the run: queries served and connections held per node index, and failed requests.</summary>
    internal sealed record Second(int At, IReadOnlyDictionary<int, int> Served, IReadOnlyDictionary<int, int> Held, int Failed);

    /// <summary>A change of the cluster, at the second of the run it began (stopping or starting a zone takes a few seconds).</summary>
    internal sealed record Event(int At, string What);

    internal static async Task<int> RunAsync(string[] args)
    {
        var options = new Options(args);
        var workers = options.GetInt("workers", 60);
        var outDir = options.Get("out") ?? "docs";
        var joinAt = options.GetInt("join-at", 10);
        var stopAt = options.GetInt("stop-at", 45);
        var restartAt = options.GetInt("restart-at", 70);
        var end = options.GetInt("seconds", 110);
        Console.WriteLine($"curves: {workers} workers, node 4 joins at {joinAt} s, the preferred zone stops at {stopAt} s and starts at {restartAt} s, {end} s in all");
        Console.WriteLine($"load before: {Stats.Load()}");

        await using var cluster = await Cluster.StartAsync(Preferred, Preferred, Fallback);
        const string app = "curves";
        var connectionString = Clusters.BrightDb(cluster, app,
            $"Topology Keys={Preferred}:1,{Fallback}:2;YB Servers Refresh Interval=2;Failed Host Reconnect Delay Secs=2;Timeout=15");
        await using var dataSource = BrightDbDataSource.Create(connectionString);

        var served = new ConcurrentDictionary<(int Second, string Host), int>();
        var failed = new ConcurrentDictionary<int, int>();
        var clock = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource();
        var loops = Enumerable.Range(0, workers).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await using var connection = await dataSource.OpenConnectionAsync(stop.Token);
                    await using var command = new NpgsqlCommand("select pg_sleep(0.005)", connection);
                    await command.ExecuteNonQueryAsync(stop.Token);
                    served.AddOrUpdate(((int)clock.Elapsed.TotalSeconds, connection.Host!), 1, static (_, n) => n + 1);
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception)
                {
                    failed.AddOrUpdate((int)clock.Elapsed.TotalSeconds, 1, static (_, n) => n + 1);
                }
            }
        })).ToList();

        var preferred = Placement.Parse(Preferred);
        var events = new List<Event>();
        var held = new Dictionary<int, IReadOnlyDictionary<int, int>>();
        for (var second = 1; second <= end; second++)
        {
            var wait = TimeSpan.FromSeconds(second) - clock.Elapsed;
            if (wait > TimeSpan.Zero)
                await Task.Delay(wait);
            held[second] = await cluster.GetClientConnectionCountsAsync(app);
            if (second == joinAt)
            {
                events.Add(new Event(second, "node 4 joins"));
                await cluster.AddNodeAsync(new NodeSpec(Placement.Parse(Preferred)));
            }
            else if (second == stopAt)
            {
                events.Add(new Event(second, "preferred zone stops"));
                foreach (var node in cluster.Nodes.Where(n => n.Placement == preferred).ToList())
                    await cluster.StopNodeAsync(node.Index);
            }
            else if (second == restartAt)
            {
                events.Add(new Event(second, "preferred zone starts"));
                foreach (var node in cluster.Nodes.Where(n => n.Placement == preferred).ToList())
                    await cluster.StartNodeAsync(node.Index);
            }

            if (second % 5 == 0)
                Console.WriteLine($"{second,4} s: servers hold {string.Join('/', cluster.Nodes.Select(n => held[second].GetValueOrDefault(n.Index)))}, failed so far {failed.Values.Sum()}");
        }

        await stop.CancelAsync();
        await Task.WhenAll(loops);

        var hosts = cluster.Nodes.ToDictionary(n => n.Host, n => n.Index);
        var seconds = Enumerable.Range(1, end - 1).Select(s => new Second(
            s,
            hosts.ToDictionary(h => h.Value, h => served.GetValueOrDefault((s, h.Key))),
            held[s],
            failed.GetValueOrDefault(s))).ToList();
        var nodes = cluster.Nodes.Select(n => n.Index).ToArray();
        var labels = cluster.Nodes.ToDictionary(n => n.Index, n => $"node {n.Index} ({n.Placement.Zone})");

        Directory.CreateDirectory(outDir);
        var share = Path.Combine(outDir, "curves-share.png");
        var connections = Path.Combine(outDir, "curves-connections.png");
        CurvesPlot.Share(seconds, nodes, labels, events, share);
        CurvesPlot.Connections(seconds, nodes, labels, events, connections);
        Console.WriteLine($"== curves: {served.Values.Sum()} queries, {failed.Values.Sum()} failed requests; events: {string.Join(", ", events.Select(e => $"{e.What} at {e.At} s"))}");
        Console.WriteLine("second  " + string.Join("  ", nodes.Select(n => $"share{n} held{n}")) + "  failed");
        foreach (var s in seconds.Where(s => s.At % 5 == 0))
        {
            var total = Math.Max(1, s.Served.Values.Sum());
            Console.WriteLine($"{s.At,6}  " + string.Join("  ", nodes.Select(n =>
                $"{(100.0 * s.Served.GetValueOrDefault(n) / total).ToString("F0", CultureInfo.InvariantCulture),5}% {s.Held.GetValueOrDefault(n),5}")) + $"  {s.Failed,6}");
        }

        Console.WriteLine($"pictures: {share}, {connections}");
        Console.WriteLine($"load after: {Stats.Load()}");
        return 0;
    }
}
