using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using BrightDb.LocalCluster;
using BrightDb.Npgsql;
using Npgsql;
using Cluster = BrightDb.LocalCluster.LocalCluster;

namespace BrightDb.Benchmarks;

/// <summary>
/// A long run of open / <c>SELECT 1</c> / close cycles on one pooled data source while <see cref="SoakChaos"/> faults one
/// node at a time. At the end every node is restored, and the driver's map must equal the servers' own counts.
/// </summary>
static class SoakHarness
{
    const string Application = "brightdb-soak";

    /// <summary>How long the counts may take to settle once every node is restored.</summary>
    static readonly TimeSpan Settle = TimeSpan.FromSeconds(10);

    internal static async Task<int> RunAsync(string[] args)
    {
        var options = new Options(args);
        var cycles = options.GetInt("cycles", 100_000);
        var tasks = options.GetInt("tasks", 64);
        var seed = options.GetInt("seed", Random.Shared.Next());
        var interval = TimeSpan.FromMilliseconds(options.GetInt("chaos-interval-ms", 3000));
        Console.WriteLine($"soak: {cycles} cycles over {tasks} tasks, seed {seed}, a fault every {interval.TotalMilliseconds} ms");
        Console.WriteLine($"load before: {Stats.Load()}");

        await using var cluster = await Cluster.StartAsync(new LocalClusterOptions
        {
            Nodes = [.. Clusters.Placements.Select(p => new NodeSpec(Placement.Parse(p)))],
            FaultProxy = true,
        });
        Console.WriteLine($"cluster: {string.Join(", ", cluster.Nodes.Select(n => $"{n.Index}={n.Address} {n.Placement}"))}");
        await using var dataSource = BrightDbDataSource.Create(Clusters.BrightDb(cluster, Application, "Hedged Open Delay=500;Timeout=5"));

        var managedStart = GC.GetTotalMemory(true);
        var workingSetStart = Environment.WorkingSet;
        var tally = new SoakTally(tasks);
        var chaos = new SoakChaos(cluster, seed, interval);
        using var stopChaos = new CancellationTokenSource();
        using var stopProgress = new CancellationTokenSource();
        var watch = Stopwatch.StartNew();
        var chaosRun = chaos.RunAsync(stopChaos.Token);
        var progress = ProgressAsync(dataSource, tally, chaos, cycles, watch, stopProgress.Token);
        var next = new StrongBox<long>(0);
        await Task.WhenAll(Enumerable.Range(0, tasks).Select(t => Task.Run(() => WorkAsync(t, dataSource, tally, chaos, next, cycles))));
        var wall = watch.Elapsed;
        await stopProgress.CancelAsync();
        await progress;
        await stopChaos.CancelAsync();
        await chaosRun;
        await chaos.RestoreAllAsync();
        var (driver, servers, settled, match) = await SettleAsync(dataSource, cluster);
        var managedEnd = GC.GetTotalMemory(true);
        var workingSetEnd = Environment.WorkingSet;

        Console.WriteLine($"== soak summary (seed {seed})");
        Console.WriteLine($"cycles: {tally.Done} ({tally.Done - tally.Failed} ok, {tally.Failed} failed), {tasks} tasks");
        Console.WriteLine($"wall time: {Stats.F(wall.TotalSeconds)} s ({Stats.F(tally.Done / wall.TotalSeconds)} cycles/s)");
        var errors = tally.ErrorsByKind();
        Console.WriteLine($"errors by kind: {errors.Count} kinds; counts: open failed / in use, a fault applied while open / "
                          + "in use, the fault had begun when it opened / in use, no fault");
        foreach (var (kind, byPhase) in errors)
        {
            Console.WriteLine($"  {string.Join(" / ", byPhase)}  {kind}");
            Console.WriteLine($"      e.g. {tally.Example(kind)}");
        }

        var phases = Enum.GetValues<SoakPhase>().Select(p => errors.Sum(e => e.ByPhase[(int)p])).ToArray();
        Console.WriteLine($"errors in all: {phases[0]} opens failed; on a connection in use: {phases[1]} when a fault was applied while it was open, "
                          + $"{phases[2]} under a fault that had begun (being applied or in effect) when it opened, {phases[3]} with no fault");
        var opens = tally.SortedOpenTimes();
        Console.WriteLine($"open time ({opens.Count} successful opens): p50 {Stats.F(Stats.Percentile(opens, 50), 2)} ms, "
                          + $"p99 {Stats.F(Stats.Percentile(opens, 99), 2)} ms, max {Stats.F(opens.Count > 0 ? opens[^1] : double.NaN, 2)} ms");
        Console.WriteLine($"memory: managed (GC.GetTotalMemory(true)) {Mb(managedStart)} MB at start, {Mb(managedEnd)} MB at end; "
                          + $"working set {Mb(workingSetStart)} MB at start, {Mb(workingSetEnd)} MB at end");
        Console.WriteLine($"faults applied: {chaos.Applied.Values.Sum()} ("
                          + string.Join(", ", SoakChaos.Kinds.Select(k => $"{k} {chaos.Applied.GetValueOrDefault(k)}")) + ")");
        foreach (var failure in chaos.Failures)
            Console.WriteLine($"  chaos: {failure}");
        Console.WriteLine($"final counts (every node restored; {(match ? "equal after" : "still different after")} {Stats.F(settled.TotalSeconds)} s):");
        Console.WriteLine($"  driver map: {driver}   (-: not in the map, the driver's topology does not list it yet; counts as 0)");
        Console.WriteLine($"  servers:    {servers}");
        Console.WriteLine(match ? "MATCH" : "MISMATCH");
        Console.WriteLine($"load after: {Stats.Load()}");
        return match ? 0 : 1;
    }

    static async Task WorkAsync(int task, BrightDbDataSource dataSource, SoakTally tally, SoakChaos chaos, StrongBox<long> next, int cycles)
    {
        while (Interlocked.Increment(ref next.Value) <= cycles)
        {
            NpgsqlConnection? connection = null;
            var (epoch, underFault) = (0, false);
            var started = Stopwatch.GetTimestamp();
            try
            {
                connection = await dataSource.OpenConnectionAsync();
                tally.Opened(task, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                (epoch, underFault) = (chaos.Epoch, chaos.Current != SoakChaos.None);
                await using var command = connection.CreateCommand();
                command.CommandText = "SELECT 1";
                var value = await command.ExecuteScalarAsync();
                if (value is not 1)
                    throw new InvalidOperationException($"SELECT 1 returned {value ?? "null"}");
            }
            catch (Exception e)
            {
                tally.Error(e, connection is null ? SoakPhase.Open
                    : chaos.Epoch != epoch ? SoakPhase.InUseFaultBegan
                    : underFault ? SoakPhase.InUseUnderFault
                    : SoakPhase.InUseNoFault);
            }
            finally
            {
                if (connection is not null)
                    await connection.DisposeAsync();
                tally.Completed();
            }
        }
    }

    /// <summary>Once a second: cycles done, cycles per second, errors so far, the fault in effect and the driver's map.</summary>
    static async Task ProgressAsync(BrightDbDataSource dataSource, SoakTally tally, SoakChaos chaos, int cycles, Stopwatch watch, CancellationToken ct)
    {
        // On a terminal the line is rewritten in place; into a file, one line every 10 s.
        var inPlace = !Console.IsErrorRedirected;
        var width = inPlace ? Math.Max(40, ConsoleWidth() - 1) : int.MaxValue;
        var (lastDone, lastTime, ticks) = (0L, TimeSpan.Zero, 0);
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                var (done, now) = (tally.Done, watch.Elapsed);
                var rate = (done - lastDone) / (now - lastTime).TotalSeconds;
                (lastDone, lastTime) = (done, now);
                var line = $"{Stats.F(now.TotalSeconds, 0)} s  {done}/{cycles} cycles  {Stats.F(rate, 0)}/s  errors {tally.Failed}: {tally.Brief(3)}  "
                           + $"fault: {chaos.Current}  map: {MapText(dataSource.GetHostToConnectionMap())}";
                if (inPlace)
                    await Console.Error.WriteAsync("\r" + (line.Length > width ? line[..width] : line.PadRight(width)));
                else if (++ticks % 10 == 0)
                    await Console.Error.WriteLineAsync(line);
            }
        }
        catch (OperationCanceledException)
        {
        }

        if (inPlace)
            await Console.Error.WriteLineAsync();
    }

    /// <summary>The driver's map and the servers' counts per node once they are equal, or as last read after <see cref="Settle"/>.</summary>
    static async Task<(string Driver, string Servers, TimeSpan After, bool Match)> SettleAsync(BrightDbDataSource dataSource, Cluster cluster)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            var map = dataSource.GetHostToConnectionMap();
            var counts = await ServerCountsAsync(cluster);
            var perNode = cluster.Nodes.Select(n => map.GetValueOrDefault(n.Host)).ToList();
            // A host of the map that is no node of the cluster holds connections the servers cannot count.
            var strangers = map.Where(e => e.Value != 0 && cluster.Nodes.All(n => n.Host != e.Key)).ToList();
            var match = perNode.SequenceEqual(counts) && strangers.Count == 0;
            if (match || watch.Elapsed > Settle)
            {
                var servers = string.Join(" ", cluster.Nodes.Select((n, i) => $"{n.Host}={counts[i]}"));
                var driver = string.Join(" ", cluster.Nodes.Select(n => $"{n.Host}={(map.TryGetValue(n.Host, out var c) ? c : "-")}")
                    .Concat(strangers.Select(e => $"{e.Key}={e.Value}")));
                return (driver, servers, watch.Elapsed, match);
            }

            await Task.Delay(100);
        }
    }

    /// <summary>The servers' counts of the soak's connections, by node; retried on a timeout, the machine may be loaded.</summary>
    static async Task<List<int>> ServerCountsAsync(Cluster cluster)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var counts = await cluster.GetClientConnectionCountsAsync(Application);
                return [.. cluster.Nodes.Select(n => counts.GetValueOrDefault(n.Index))];
            }
            catch (NpgsqlException e) when (attempt < 5 && e.InnerException is TimeoutException)
            {
                await Task.Delay(200);
            }
        }
    }

    static string MapText(IReadOnlyDictionary<string, int> map) =>
        string.Join(" ", map.OrderBy(e => e.Key, StringComparer.Ordinal).Select(e => $"{e.Key}={e.Value}"));

    static string Mb(long bytes) => Stats.F(bytes / (1024.0 * 1024.0));

    static int ConsoleWidth()
    {
        try
        {
            return Console.WindowWidth > 0 ? Console.WindowWidth : 160;
        }
        catch (IOException)
        {
            return 160;
        }
    }
}
