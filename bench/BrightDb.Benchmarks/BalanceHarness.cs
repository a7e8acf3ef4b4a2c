using System.Diagnostics;
using BrightDb.Npgsql;
using Npgsql;
using Cluster = BrightDb.LocalCluster.LocalCluster;

namespace BrightDb.Benchmarks;

/// <summary>
/// Balance quality as the servers see it: connections are opened and held, then counted on each node with
/// <c>pg_stat_activity</c> (<see cref="Cluster.GetClientConnectionCountsAsync"/>). One process opening 10 connections
/// (one after another, and all at once), and 10 real OS processes (this executable's <c>balance-worker</c>) starting
/// together, each opening 10 and holding them until all are open.
/// </summary>
static class BalanceHarness
{
    internal const string WorkerCommand = "balance-worker";
    const int ConnectionsPerProcess = 10;

    internal static async Task<int> RunAsync(string[] args)
    {
        var options = new Options(args);
        var trials = options.GetInt("trials", 100);
        var processes = options.GetInt("processes", 10);
        var multiTrials = options.GetInt("multi-trials", trials);
        var budget = TimeSpan.FromSeconds(options.GetInt("multi-budget-seconds", 300));
        // Extra connection-string keywords for every data source, e.g. "GSS Encryption Mode=Disable".
        var extra = options.Get("extra") ?? "";

        Console.WriteLine($"load before: {Stats.Load()}");
        await using var cluster = await Clusters.StartAsync();
        Console.WriteLine($"cluster: {string.Join(", ", cluster.Nodes.Select(n => $"{n.Index}={n.Address} {n.Placement}"))}");

        var sequential = new List<int[]>();
        var concurrent = new List<int[]>();
        for (var trial = 1; trial <= trials; trial++)
        {
            sequential.Add(await OneProcessTrialAsync(cluster, $"bal1s-{trial}", extra, concurrently: false));
            concurrent.Add(await OneProcessTrialAsync(cluster, $"bal1c-{trial}", extra, concurrently: true));
        }

        Report($"1 process, {ConnectionsPerProcess} connections opened one after another", sequential);
        Report($"1 process, {ConnectionsPerProcess} connections opened concurrently", concurrent);

        var multi = new List<int[]>();
        var perProcessSpreads = new List<int>();
        var watch = Stopwatch.StartNew();
        var trialTimes = new List<double>();
        for (var trial = 1; trial <= multiTrials; trial++)
        {
            if (watch.Elapsed > budget)
            {
                Console.WriteLine($"stopped after {trial - 1} trials: the time budget of {budget.TotalSeconds} s is spent");
                break;
            }

            var started = watch.Elapsed;
            var (totals, spreads) = await MultiProcessTrialAsync(cluster, trial, processes, extra);
            trialTimes.Add((watch.Elapsed - started).TotalSeconds);
            multi.Add(totals);
            perProcessSpreads.AddRange(spreads);
        }

        if (multi.Count == 0)
            return 0;
        Report($"{processes} processes x {ConnectionsPerProcess} connections, node totals", multi);
        Console.WriteLine($"  per process (each of the {perProcessSpreads.Count} processes, by the servers' counts): max - min histogram "
                          + string.Join(", ", perProcessSpreads.GroupBy(s => s).OrderBy(g => g.Key).Select(g => $"{g.Key}: {g.Count()}")));
        Console.WriteLine($"  seconds per {processes}-process trial: min {Stats.F(trialTimes.Min(), 2)}, median {Stats.F(Stats.Median(trialTimes), 2)}, max {Stats.F(trialTimes.Max(), 2)}; total {Stats.F(watch.Elapsed.TotalSeconds)} s");
        Console.WriteLine($"load after: {Stats.Load()}");
        return 0;
    }

    static async Task<int[]> OneProcessTrialAsync(Cluster cluster, string app, string extra, bool concurrently)
    {
        await using var dataSource = BrightDbDataSource.Create(Clusters.BrightDb(cluster, app, extra));
        NpgsqlConnection[] connections;
        if (concurrently)
        {
            connections = await Task.WhenAll(Enumerable.Range(0, ConnectionsPerProcess).Select(_ => dataSource.OpenConnectionAsync().AsTask()));
        }
        else
        {
            connections = new NpgsqlConnection[ConnectionsPerProcess];
            for (var i = 0; i < connections.Length; i++)
                connections[i] = await dataSource.OpenConnectionAsync();
        }

        var counts = await CountsAsync(cluster, [app]);
        foreach (var connection in connections)
            await connection.DisposeAsync();
        return counts;
    }

    static async Task<(int[] Totals, int[] Spreads)> MultiProcessTrialAsync(Cluster cluster, int trial, int processes, string extra)
    {
        var apps = Enumerable.Range(1, processes).Select(p => $"bal{processes}-{trial}-p{p}").ToArray();
        var workers = apps.Select(app => StartWorker(Clusters.BrightDb(cluster, app, extra))).ToArray();
        try
        {
            // Every worker has its data source ready; then all start opening at once.
            foreach (var worker in workers)
                await ExpectAsync(worker, "ready");
            foreach (var worker in workers)
                await worker.StandardInput.WriteLineAsync("go");
            foreach (var worker in workers)
                await ExpectAsync(worker, "open");

            var perProcess = new List<int[]>(processes);
            foreach (var app in apps)
                perProcess.Add(await CountsAsync(cluster, [app]));
            var totals = cluster.Nodes.Select((_, n) => perProcess.Sum(c => c[n])).ToArray();
            var spreads = perProcess.Select(c => c.Max() - c.Min()).ToArray();

            foreach (var worker in workers)
                await worker.StandardInput.WriteLineAsync("close");
            foreach (var worker in workers)
            {
                await worker.WaitForExitAsync();
                if (worker.ExitCode != 0)
                    throw new InvalidOperationException($"a worker exited with {worker.ExitCode}: {await worker.StandardError.ReadToEndAsync()}");
            }

            return (totals, spreads);
        }
        finally
        {
            foreach (var worker in workers)
            {
                if (!worker.HasExited)
                    worker.Kill();
                worker.Dispose();
            }
        }
    }

    static Process StartWorker(string connectionString)
    {
        var self = Environment.ProcessPath ?? throw new InvalidOperationException("no process path");
        var info = new ProcessStartInfo(self)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // Run as `dotnet BrightDb.Benchmarks.dll`: start the same way.
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
            info.ArgumentList.Add(typeof(BalanceHarness).Assembly.Location);
        info.ArgumentList.Add(WorkerCommand);
        info.ArgumentList.Add("--connection-string");
        info.ArgumentList.Add(connectionString);
        info.ArgumentList.Add("--count");
        info.ArgumentList.Add(ConnectionsPerProcess.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return Process.Start(info) ?? throw new InvalidOperationException("could not start a worker");
    }

    static async Task ExpectAsync(Process worker, string expected)
    {
        var line = await worker.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
        if (line != expected)
            throw new InvalidOperationException($"a worker said '{line}' instead of '{expected}': {(worker.HasExited ? await worker.StandardError.ReadToEndAsync() : "")}");
    }

    /// <summary>The servers' own counts of client connections with any of these application names, by node.</summary>
    /// <remarks>One application name at a time (three admin connections at once), retried on a timeout: the machine may be loaded.</remarks>
    static async Task<int[]> CountsAsync(Cluster cluster, IReadOnlyList<string> apps)
    {
        var totals = new int[cluster.Nodes.Count];
        foreach (var app in apps)
        {
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    var counts = await cluster.GetClientConnectionCountsAsync(app);
                    for (var n = 0; n < totals.Length; n++)
                        totals[n] += counts.GetValueOrDefault(cluster.Nodes[n].Index);
                    break;
                }
                catch (NpgsqlException e) when (attempt < 5 && e.InnerException is TimeoutException)
                {
                    Console.WriteLine($"  (counting timed out, attempt {attempt}; retrying)");
                }
            }
        }

        return totals;
    }

    static void Report(string title, List<int[]> trials)
    {
        var spreads = trials.Select(t => t.Max() - t.Min()).ToList();
        var ratios = trials.Select(t => t.Max() / t.Average()).ToList();
        var within2x = trials.Count(t => t.Max() <= 2 * t.Average());
        Console.WriteLine($"{title}: {trials.Count} trials, {trials[0].Sum()} connections each");
        Console.WriteLine($"  max - min: min {spreads.Min()}, median {Stats.F(Stats.Median(spreads.Select(s => (double)s).ToList()))}, max {spreads.Max()}; histogram "
                          + string.Join(", ", spreads.GroupBy(s => s).OrderBy(g => g.Key).Select(g => $"{g.Key}: {g.Count()}")));
        Console.WriteLine($"  max / mean: min {Stats.F(ratios.Min(), 3)}, median {Stats.F(Stats.Median(ratios), 3)}, max {Stats.F(ratios.Max(), 3)}; "
                          + $"trials with no node above 2x the mean: {within2x}/{trials.Count}");
        Console.WriteLine($"  node totals seen (sorted, count of trials): "
                          + string.Join(", ", trials.GroupBy(t => string.Join("/", t.OrderDescending())).OrderByDescending(g => g.Count()).Select(g => $"{g.Key}: {g.Count()}")));
    }

    /// <summary>
    /// One worker process: creates a data source, waits for "go", opens its connections, holds them until "close", then
    /// disposes the data source. With <c>--trials N</c> it does so N times, each with a new data source, and a
    /// <c>{trial}</c> in the connection string is replaced by the trial's number (1 to N).
    /// </summary>
    internal static async Task<int> WorkerAsync(string[] args)
    {
        var options = new Options(args);
        var connectionString = options.Get("connection-string") ?? throw new ArgumentException("--connection-string is required");
        var count = options.GetInt("count", ConnectionsPerProcess);
        var trials = options.GetInt("trials", 1);
        try
        {
            for (var trial = 1; trial <= trials; trial++)
            {
                await using var dataSource = BrightDbDataSource.Create(
                    connectionString.Replace("{trial}", trial.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal));
                Console.WriteLine("ready");
                if (await Console.In.ReadLineAsync() != "go")
                    return 2;
                var connections = new List<NpgsqlConnection>(count);
                for (var i = 0; i < count; i++)
                    connections.Add(await dataSource.OpenConnectionAsync());
                Console.WriteLine("open");
                await Console.In.ReadLineAsync();
                foreach (var connection in connections)
                    await connection.DisposeAsync();
            }

            return 0;
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException or ArgumentException)
        {
            await Console.Error.WriteLineAsync(e.ToString());
            return 1;
        }
    }
}
