using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using BrightDb.Npgsql.Diagnostics;
using Npgsql;
using Xunit.Abstractions;

namespace BrightDb.Npgsql.IntegrationTests;

/// <summary>
/// 64 tasks open, query and close while nodes are killed, paused, resumed, stopped and restarted. A cycle fails only if
/// its connection was on a node when a fault struck that node; opens never fail (they fail over); afterwards nothing
/// stays counted, and the driver's map equals what the servers report. The run is <c>BRIGHTDB_STRESS_CYCLES</c> cycles
/// (total over all tasks); CI runs the short default, the long form is 100000.
/// </summary>
[Collection(nameof(StressCollection))]
public sealed class CounterIntegrityStressTests(ITestOutputHelper output) : IAsyncLifetime
{
    const int Tasks = 64;

    /// <summary>
    /// How long the run may take before it is declared hung (and the test fails): two minutes for the faults and the
    /// restarts, plus per cycle 5 ms pooled or 100 ms unpooled (a new physical connection each), several times what a
    /// loaded machine needs.
    /// </summary>
    static TimeSpan SafetyTimeout(int cycles, bool pooling) =>
        TimeSpan.FromMinutes(2) + cycles * TimeSpan.FromMilliseconds(pooling ? 5 : 100);

    LocalCluster.LocalCluster _cluster = null!;

    public async Task InitializeAsync() =>
        _cluster = await LocalCluster.LocalCluster.StartAsync("aws.us-west.us-west-2a", "aws.us-west.us-west-2b", "aws.us-west.us-west-2c");

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    static int Cycles(int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable("BRIGHTDB_STRESS_CYCLES"), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : fallback;

    enum Outcome
    {
        Succeeded,

        /// <summary>The open threw <see cref="OperationCanceledException"/> after the test cancelled its token.</summary>
        OpenCancelledByTest,

        /// <summary>The open threw anything else: it should have failed over.</summary>
        OpenFailed,

        /// <summary>The connection opened; the command on it failed.</summary>
        CommandFailed,
    }

    /// <summary>One cycle: when it started and ended on the run's sequence, the node of its connection (-1: none), its outcome.</summary>
    readonly record struct Cycle(long Start, long End, int Node, Outcome Outcome, string? Error);

    /// <summary>
    /// A fault on one node: from <see cref="Start"/> to <see cref="End"/> on the run's sequence (the kill or stop itself;
    /// for a pause, until the node resumes, since a hung server is a fault for as long as it hangs).
    /// </summary>
    sealed class Fault(string what, int node)
    {
        public string What { get; } = what;

        /// <summary>The node's position in the cluster's node list.</summary>
        public int Node { get; } = node;

        public long Start { get; set; }

        public long End { get; set; } = long.MaxValue;

        /// <summary>The workers' count of requests in flight on the node when the fault began.</summary>
        public int InFlightAtStart { get; set; }

        /// <summary>Cycles in progress anywhere when the fault began.</summary>
        public int RunningAtStart { get; set; }

        /// <summary>Cycles whose connection was on the node while the fault struck it: those the fault may fail.</summary>
        public int Struck { get; set; }

        public override string ToString() =>
            $"{What}: {RunningAtStart} cycles running, {InFlightAtStart} in flight on the node as it began, {Struck} struck";
    }

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

        var markedDown = new ConcurrentQueue<string>();
        ds.HostMarkedDown += (_, e) => markedDown.Enqueue($"{e.Host}:{e.Port} ({e.Reason})");
        long failovers = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == DriverMetrics.MeterName && instrument.Name == DriverMetrics.FailoversName)
                l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "db.client.connection.pool.name" && Equals(tag.Value, ds.Name))
                    Interlocked.Add(ref failovers, value);
            }
        });
        listener.Start();

        // One sequence orders every cycle's start and end and every fault's start and end: a cycle was struck by a fault
        // when its connection was on the fault's node and the two overlap on it. Unlike a sample of the in-flight counters,
        // this also counts a connection handed out just before a fault that its worker had not yet noted.
        long sequence = 0;
        var inFlight = new int[_cluster.Nodes.Count];
        var running = 0;
        var completed = 0;
        var testCancellations = 0;
        var claimed = 0;
        // Cycles numbered below this may start; the chaos moves it on (see StrikeAsync).
        var startBefore = 0;
        var step = Math.Max(1, cycles / 10);
        var records = new ConcurrentQueue<Cycle>();
        var faults = new List<Fault>();
        using var stop = new CancellationTokenSource(SafetyTimeout(cycles, pooling));

        var nodes = _cluster.Nodes.ToList();
        int NodeOf(NpgsqlConnection connection) => nodes.FindIndex(n => n.Host == connection.Host && n.Port == connection.Port);

        async Task Worker(int id)
        {
            var random = new Random(id);
            while (Interlocked.Increment(ref claimed) - 1 is var number && number < cycles && !stop.IsCancellationRequested)
            {
                while (number >= Volatile.Read(ref startBefore) && !stop.IsCancellationRequested)
                    await Task.Delay(5);
                var start = Interlocked.Increment(ref sequence);
                Interlocked.Increment(ref running);
                var node = -1;
                var outcome = Outcome.Succeeded;
                string? error = null;
                var cancelledByTest = false;
                try
                {
                    using var perOpen = CancellationTokenSource.CreateLinkedTokenSource(stop.Token);
                    // Some opens are cancelled at once or shortly after starting: they must leave nothing counted.
                    if (random.Next(50) == 0)
                    {
                        cancelledByTest = true;
                        Interlocked.Increment(ref testCancellations);
                        perOpen.CancelAfter(random.Next(3));
                    }

                    NpgsqlConnection connection;
                    try
                    {
                        connection = await ds.OpenConnectionAsync(perOpen.Token);
                    }
                    catch (OperationCanceledException) when (cancelledByTest && !stop.IsCancellationRequested)
                    {
                        outcome = Outcome.OpenCancelledByTest;
                        continue;
                    }
                    catch (Exception e)
                    {
                        (outcome, error) = (Outcome.OpenFailed, Describe(e));
                        continue;
                    }

                    await using (connection)
                    {
                        node = NodeOf(connection);
                        Interlocked.Increment(ref inFlight[node]);
                        try
                        {
                            await using var command = new NpgsqlCommand("select 1", connection);
                            await command.ExecuteScalarAsync(stop.Token);
                        }
                        catch (Exception e)
                        {
                            (outcome, error) = (Outcome.CommandFailed, Describe(e));
                        }
                        finally
                        {
                            Interlocked.Decrement(ref inFlight[node]);
                        }
                    }
                }
                finally
                {
                    records.Enqueue(new Cycle(start, Interlocked.Increment(ref sequence), node, outcome, error));
                    Interlocked.Decrement(ref running);
                    Interlocked.Increment(ref completed);
                }
            }
        }

        // The faults are placed by cycles, not by time, so that each strikes amid running cycles however fast the machine
        // is, and the run is as long as its cycles: before a fault, a tenth of the cycles runs; the fault strikes while
        // the next tenth runs, and one more tenth may run while it lasts; the cycles after that wait for the next fault.
        // How long a node stays down or hung is part of the fault, and so in time.
        void LetStartBefore(long number) => Volatile.Write(ref startBefore, (int)Math.Min(cycles, Math.Max(number, Volatile.Read(ref startBefore))));

        async Task StrikeAsync(string what, int node, Func<Task> begin, Func<Task> end)
        {
            LetStartBefore(Volatile.Read(ref completed) + 2L * step);
            while (Volatile.Read(ref completed) < Volatile.Read(ref startBefore) - step && !stop.IsCancellationRequested)
                await Task.Delay(10);

            var fault = new Fault(what, node);
            lock (faults)
                faults.Add(fault);
            fault.InFlightAtStart = Volatile.Read(ref inFlight[node]);
            fault.RunningAtStart = Volatile.Read(ref running);
            fault.Start = Interlocked.Increment(ref sequence);
            await begin();
            LetStartBefore(Volatile.Read(ref startBefore) + (long)step);
            await end();
            fault.End = Interlocked.Increment(ref sequence);
        }

        async Task Chaos()
        {
            try
            {
                var (node1, node2, node3) = (_cluster.Nodes[0], _cluster.Nodes[1], _cluster.Nodes[2]);
                await StrikeAsync("node 3 killed", 2, () => _cluster.KillNodeAsync(node3.Index), () => Task.CompletedTask);
                await Task.Delay(700);
                await _cluster.StartNodeAsync(node3.Index);

                await StrikeAsync("node 2 paused", 1, () => _cluster.PauseNodeAsync(node2.Index), async () =>
                {
                    await Task.Delay(1200);
                    await _cluster.ResumeNodeAsync(node2.Index);
                });

                await StrikeAsync("node 1 stopped", 0, () => _cluster.StopNodeAsync(node1.Index), () => Task.CompletedTask);
                await Task.Delay(700);
                await _cluster.StartNodeAsync(node1.Index);
            }
            finally
            {
                Volatile.Write(ref startBefore, cycles);
            }
        }

        var workers = Enumerable.Range(0, Tasks).Select(i => Task.Run(() => Worker(i))).ToList();
        await Task.WhenAll(workers.Append(Chaos()));
        Assert.False(stop.IsCancellationRequested,
            $"the run did not finish within its safety timeout of {SafetyTimeout(cycles, pooling)} ({Volatile.Read(ref completed)} of {cycles} cycles done)");
        Assert.Equal(cycles, records.Count);

        foreach (var fault in faults)
            fault.Struck = records.Count(c => c.Node == fault.Node && c.Start < fault.End && c.End > fault.Start);
        var struckCycles = records.Where(c => faults.Any(f => c.Node == f.Node && c.Start < f.End && c.End > f.Start)).ToList();
        var byKind = records.GroupBy(c => c.Outcome).ToDictionary(g => g.Key, g => g.Count());
        var summary =
            $"{cycles} cycles: {string.Join(", ", byKind.Select(p => $"{p.Key} {p.Value}"))}; {testCancellations} opens cancelled by the test; " +
            $"{Interlocked.Read(ref failovers)} failovers; faults: {string.Join("; ", faults)}; marked down: {string.Join("; ", markedDown)}; errors: " +
            string.Join(" | ", records.Where(c => c.Error is not null).GroupBy(c => $"{c.Outcome} {c.Error}").OrderByDescending(g => g.Count()).Take(8)
                .Select(g => $"{g.Count()}× {g.Key}"));
        output.WriteLine(summary);

        // The faults overlapped the work: cycles were running as each struck, a faulted server was marked down, and
        // the faults made commands fail or opens fail over.
        Assert.True(faults.Count == 3 && faults.All(f => f.RunningAtStart > 0), $"a fault struck while no cycle ran: {summary}");
        var faultedHosts = faults.Select(f => _cluster.Nodes[f.Node]).Select(n => $"{n.Host}:{n.Port} ").ToList();
        Assert.True(markedDown.Any(m => faultedHosts.Any(h => m.StartsWith(h, StringComparison.Ordinal))), $"no faulted server was marked down: {summary}");
        Assert.True(byKind.GetValueOrDefault(Outcome.CommandFailed) + Interlocked.Read(ref failovers) > 0, $"the faults made nothing fail or fail over: {summary}");

        // Opens fail over: none fails, except those the test cancelled itself (an open that reports a cancellation nobody
        // asked for counts as failed).
        Assert.True(byKind.GetValueOrDefault(Outcome.OpenFailed) == 0, $"opens failed: {summary}");
        // A command fails only on a connection to a node that a fault struck while the connection was in use: failures are
        // bounded by the cycles in flight on the faulted nodes as the faults struck, and each failed cycle was one of them.
        var failedCommands = records.Where(c => c.Outcome == Outcome.CommandFailed).ToList();
        Assert.True(failedCommands.Count <= faults.Sum(f => f.Struck),
            $"{failedCommands.Count} commands failed, more than the {faults.Sum(f => f.Struck)} cycles in flight on the faulted nodes: {summary}");
        var unexplained = failedCommands.Except(struckCycles).ToList();
        Assert.True(unexplained.Count == 0,
            $"{unexplained.Count} commands failed on a connection no fault struck (e.g. {unexplained.FirstOrDefault().Error}): {summary}");

        // Nothing is held any more: no server counts a connection as in use.
        await WaitUntil(() => ds.ActiveEndpoints().All(e => e.InUse == 0),
            () => string.Join(", ", ds.ActiveEndpoints().Select(e => $"{e}={e.InUse}")));

        if (!pooling)
        {
            Assert.All(ds.GetHostToConnectionMap().Values, v => Assert.Equal(0, v));
        }

        // At quiescence the map equals what each server reports, idle pooled connections included.
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

    static string Describe(Exception e)
    {
        var message = e.InnerException is { } inner ? $"{e.Message} ({inner.GetType().Name}: {inner.Message})" : e.Message;
        return $"{e.GetType().Name}: {(message.Length > 160 ? message[..160] : message)}";
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
