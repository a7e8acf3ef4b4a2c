using System.Data.Common;
using System.Diagnostics;
using BrightDb.Npgsql;
using Npgsql;

namespace BrightDb.Benchmarks;

/// <summary>
/// Pooled open + close in a plain loop for a fixed time, the same operation as <see cref="PooledOpenBenchmarks"/>
/// without BenchmarkDotNet around it: a process to profile (for example under
/// <c>perf record -e cpu-clock -g</c> with <c>DOTNET_PerfMapEnabled=1</c>), and a rough figure per open. Warms up
/// first, then prints the operations and the time per open of the measured part.
/// </summary>
static class OpenLoopHarness
{
    internal static async Task<int> RunAsync(string[] args)
    {
        var options = new Options(args);
        var tasks = options.GetInt("tasks", 1);
        var seconds = options.GetInt("seconds", 10);
        var warmupSeconds = options.GetInt("warmup-seconds", 3);
        var plain = args.Contains("--plain");
        await using var cluster = await Clusters.StartAsync();
        await using DbDataSource dataSource = plain
            ? NpgsqlDataSource.Create(Clusters.Npgsql(cluster, [cluster.Nodes[0]], "bench-open-loop-plain"))
            : BrightDbDataSource.Create(Clusters.BrightDb(cluster, "bench-open-loop"));
        // Each type's own OpenConnectionAsync, as an application calls it (DbDataSource's would add a wrapper).
        Func<ValueTask<NpgsqlConnection>> open = dataSource switch
        {
            BrightDbDataSource driver => () => driver.OpenConnectionAsync(),
            NpgsqlDataSource npgsql => () => npgsql.OpenConnectionAsync(),
            _ => throw new InvalidOperationException("unexpected data source"),
        };
        Console.WriteLine($"open-loop: {(plain ? "plain Npgsql on one host" : "the driver, balanced")}, {tasks} task(s), " +
                          $"{warmupSeconds} s warm-up, {seconds} s measured; process {Environment.ProcessId}");

        await RunForAsync(open, tasks, TimeSpan.FromSeconds(warmupSeconds));
        var watch = Stopwatch.StartNew();
        var operations = await RunForAsync(open, tasks, TimeSpan.FromSeconds(seconds));
        watch.Stop();
        Console.WriteLine($"open-loop: {operations} opens in {watch.Elapsed.TotalSeconds:F2} s, {watch.Elapsed.TotalNanoseconds / operations:F1} ns per open");
        return 0;
    }

    /// <summary>Opens and closes on <paramref name="tasks"/> tasks until <paramref name="duration"/> has passed; the opens made.</summary>
    static async Task<long> RunForAsync(Func<ValueTask<NpgsqlConnection>> open, int tasks, TimeSpan duration)
    {
        var until = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var loops = new Task<long>[tasks];
        for (var i = 0; i < tasks; i++)
            loops[i] = Task.Run(() => LoopAsync(open, until));
        return (await Task.WhenAll(loops)).Sum();
    }

    static async Task<long> LoopAsync(Func<ValueTask<NpgsqlConnection>> open, long until)
    {
        long opens = 0;
        while (Stopwatch.GetTimestamp() < until)
        {
            // The clock is read once per 64 opens, so that the loop measures the open rather than the clock.
            for (var i = 0; i < 64; i++)
            {
                var connection = await open();
                await connection.DisposeAsync();
            }

            opens += 64;
        }

        return opens;
    }
}
