using System.Diagnostics;
using BrightDb.LocalCluster;
using BrightDb.Npgsql;
using Npgsql;
using Cluster = BrightDb.LocalCluster.LocalCluster;

namespace BrightDb.Benchmarks;

/// <summary>
/// Time from a fault to the first successful open (+ <c>SELECT 1</c>) on a warmed data source. Each repeat uses a fresh
/// data source (<c>Pooling=false</c>) that has opened a connection before the fault, and holds connections on the other
/// nodes so that the faulty node is the least loaded one: every repeat's first open goes to it and must fail over.
/// The node is restored after each repeat.
/// </summary>
static class FailoverHarness
{
    internal static async Task<int> RunAsync(string[] args)
    {
        var options = new Options(args);
        var repeats = options.GetInt("repeats", 10);
        var verbose = args.Contains("--verbose");
        Console.WriteLine($"load before: {Stats.Load()}");
        await using var cluster = await Clusters.StartAsync();
        Console.WriteLine($"cluster: {string.Join(", ", cluster.Nodes.Select(n => $"{n.Index}={n.Address} {n.Placement}"))}");

        var target = cluster.Nodes[1];
        await ScenarioAsync(cluster, repeats, verbose, $"node {target.Index} ({target.Placement.Zone}) killed", "",
            target, preferred: null, c => c.KillNodeAsync(target.Index), c => c.StartNodeAsync(target.Index));
        await ScenarioAsync(cluster, repeats, verbose, $"node {target.Index} ({target.Placement.Zone}) paused, default Hedged Open Delay (2000 ms)", "",
            target, preferred: null, c => c.PauseNodeAsync(target.Index), c => c.ResumeNodeAsync(target.Index));
        await ScenarioAsync(cluster, repeats, verbose, $"node {target.Index} ({target.Placement.Zone}) paused, Hedged Open Delay=500", "Hedged Open Delay=500",
            target, preferred: null, c => c.PauseNodeAsync(target.Index), c => c.ResumeNodeAsync(target.Index));

        var zoneA = cluster.Nodes[0];
        await ScenarioAsync(cluster, repeats, verbose, $"preferred zone {zoneA.Placement.Zone} down (node {zoneA.Index} killed), Topology Keys 2a:1,2b:2",
            "Topology Keys=aws.us-west.us-west-2a:1,aws.us-west.us-west-2b:2",
            zoneA, preferred: cluster.Nodes[1], c => c.KillNodeAsync(zoneA.Index), c => c.StartNodeAsync(zoneA.Index));
        Console.WriteLine($"load after: {Stats.Load()}");
        return 0;
    }

    static async Task ScenarioAsync(
        Cluster cluster, int repeats, bool verbose, string title, string extra, LocalNode faulty, LocalNode? preferred,
        Func<Cluster, Task> fault, Func<Cluster, Task> restore)
    {
        var times = new List<double>();
        var details = new List<string>();
        for (var repeat = 1; repeat <= repeats; repeat++)
        {
            var app = $"failover-{repeat}";
            await using var dataSource = BrightDbDataSource.Create(Clusters.BrightDb(cluster, app, "Pooling=false;" + extra));
            var held = new List<NpgsqlConnection>();
            try
            {
                // Warm: discovery done and one connection per node (or on the preferred node); then the faulty
                // node's connection closes, so it is the one the next open chooses.
                var warm = preferred is null ? cluster.Nodes.Count : 1;
                for (var i = 0; i < warm; i++)
                    held.Add(await dataSource.OpenConnectionAsync());
                var onFaulty = held.Single(c => c.Host == faulty.Host);
                held.Remove(onFaulty);
                await onFaulty.DisposeAsync();

                await fault(cluster);
                var errors = 0;
                var watch = Stopwatch.StartNew();
                var marks = new List<string>();
                dataSource.HostMarkedDown += (_, e) =>
                {
                    lock (marks)
                        marks.Add($"{e.Host} marked down at {Stats.F(watch.Elapsed.TotalMilliseconds)} ms: {e.Reason}");
                };
                NpgsqlConnection? opened = null;
                while (opened is null)
                {
                    try
                    {
                        opened = await dataSource.OpenConnectionAsync();
                        await using var command = opened.CreateCommand();
                        command.CommandText = "SELECT 1";
                        await command.ExecuteScalarAsync();
                    }
                    catch (NpgsqlException)
                    {
                        errors++;
                        if (opened is not null)
                            await opened.DisposeAsync();
                        opened = null;
                    }
                }

                watch.Stop();
                held.Add(opened);
                times.Add(watch.Elapsed.TotalMilliseconds);
                if (preferred is not null && opened.Host != preferred.Host)
                    details.Add($"repeat {repeat} opened on {opened.Host}, not the level-2 node {preferred.Host}");
                if (opened.Host == faulty.Host)
                    details.Add($"repeat {repeat} opened on the faulty node");
                if (errors > 0)
                    details.Add($"repeat {repeat}: {errors} open(s) failed before one succeeded");
                if (verbose)
                {
                    lock (marks)
                        details.AddRange(marks.Select(m => $"repeat {repeat}: {m}"));
                }
            }
            finally
            {
                await restore(cluster);
                foreach (var connection in held)
                    await connection.DisposeAsync();
            }
        }

        Console.WriteLine($"{title}: {repeats} repeats, ms to the first successful open + SELECT 1: "
                          + $"min {Stats.F(times.Min())}, median {Stats.F(Stats.Median(times))}, max {Stats.F(times.Max())}  "
                          + $"[{string.Join(", ", times.Select(t => Stats.F(t)))}]");
        foreach (var detail in details)
            Console.WriteLine("  " + detail);
    }
}
