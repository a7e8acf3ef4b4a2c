using System.Collections.Concurrent;
using System.Diagnostics;
using BmSampleApps.Workloads;
using BrightDb.Npgsql;
using Npgsql;

namespace BmSampleApps.Running;

/// <summary>
/// Runs a workload through one balanced <see cref="BrightDbDataSource"/>:
/// <list type="number">
/// <item>Each thread loops: open a connection (the driver chooses the least-loaded server, and fails over), make sure the
/// workload's table exists on the node reached (the first thread there drops and creates it), run one read or one write
/// there, close (the connection goes back to that server's pool).</item>
/// <item>The local cluster's nodes share no data: the keys written on a node are remembered for that node, and a read on
/// a node asks for one of them. Writers split the key space (<c>--num_unique_keys</c>) between them.</item>
/// <item>Every operation is measured (its node, its latency) or counted as failed (its node if a server was reached, and
/// the kind of error); once a second the runner hands the last second to the caller's view.</item>
/// </list>
/// </summary>
sealed class WorkloadRunner(WorkloadSettings settings)
{
    readonly Measurements _measurements = new();
    readonly ConcurrentDictionary<string, NodeState> _nodes = new(StringComparer.Ordinal);
    readonly Workload _workload = Workload.Create(settings.Workload, settings.Table);

    /// <summary>Runs until the duration passed or <paramref name="cancellationToken"/> is cancelled; <paramref name="onSecond"/> sees each second.</summary>
    public async Task<RunResult> RunAsync(Action<Second, IReadOnlyDictionary<string, int>> onSecond, CancellationToken cancellationToken)
    {
        await using var dataSource = BrightDbDataSource.Create(settings.ConnectionString);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (settings.Duration > TimeSpan.Zero)
            stop.CancelAfter(settings.Duration);

        var workers = new List<Task>();
        for (var w = 0; w < settings.WriteThreads; w++)
        {
            var writer = w;
            workers.Add(Task.Run(() => WriteLoopAsync(dataSource, writer, stop.Token), CancellationToken.None));
        }

        for (var r = 0; r < settings.ReadThreads; r++)
            workers.Add(Task.Run(() => ReadLoopAsync(dataSource, stop.Token), CancellationToken.None));

        var seconds = new List<Second>();
        var started = Stopwatch.StartNew();
        var all = Task.WhenAll(workers);
        using var ticker = new PeriodicTimer(TimeSpan.FromSeconds(1));
        while (!all.IsCompleted)
        {
            var tick = ticker.WaitForNextTickAsync(CancellationToken.None).AsTask();
            await Task.WhenAny(tick, all);
            var second = _measurements.EndSecond(seconds.Count + 1);
            if (tick.IsCompleted || second.Reads + second.Writes + second.Failed > 0)
            {
                seconds.Add(second);
                onSecond(second, dataSource.GetHostToConnectionMap());
            }
        }

        await all;
        return new RunResult(settings, started.Elapsed, seconds, _measurements.Snapshot(), dataSource.Topology?.Servers.Select(s => s.Host).ToList() ?? []);
    }

    async Task WriteLoopAsync(BrightDbDataSource dataSource, int writer, CancellationToken stop)
    {
        // Writer w of W writes keys w, w + W, w + 2W, ... below --num_unique_keys: new keys (inserts), or, for the updating
        // workloads, the same keys again and again.
        var key = (long)writer;
        while (!stop.IsCancellationRequested)
        {
            if (key >= settings.UniqueKeys)
            {
                if (!_workload.Updates)
                    return; // Every key of this writer is written.
                key = writer;
            }

            if (!await OperateAsync(dataSource, write: true, key, stop))
                return;
            key += settings.WriteThreads;
        }
    }

    async Task ReadLoopAsync(BrightDbDataSource dataSource, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            if (!await OperateAsync(dataSource, write: false, key: -1, stop))
                return;
        }
    }

    /// <summary>One operation on a balanced connection; false when the run is over.</summary>
    async Task<bool> OperateAsync(BrightDbDataSource dataSource, bool write, long key, CancellationToken stop)
    {
        var started = Stopwatch.GetTimestamp();
        string node = Measurements.NoServer;
        try
        {
            var connection = await dataSource.OpenConnectionAsync(stop);
            await using (connection)
            {
                node = connection.Host ?? Measurements.NoServer;
                var state = _nodes.GetOrAdd(node, static _ => new NodeState());
                await state.EnsureTableAsync(_workload, connection, stop);
                int rows;
                if (write)
                {
                    rows = await _workload.WriteAsync(connection, key, stop);
                    if (rows > 0)
                        state.Written(key);
                }
                else
                {
                    // A key written on this node (any, while none is); the read is an operation either way.
                    await _workload.ReadAsync(connection, state.AnyKey(), stop);
                    rows = 0;
                }

                _measurements.Succeeded(write, node, Stopwatch.GetElapsedTime(started).TotalMilliseconds, rows);
            }

            return true;
        }
        catch (Exception) when (stop.IsCancellationRequested)
        {
            // The run ended while this operation was under way: it is neither a success nor a failure.
            return false;
        }
        catch (Exception e)
        {
            _measurements.Failed(node, Describe(e));
            return true;
        }
    }

    /// <summary>The kind of an error, short: its type and SQLSTATE, or its type and first words.</summary>
    internal static string Describe(Exception e)
    {
        if (e is PostgresException pe)
            return $"{pe.SqlState} {pe.MessageText}";
        var root = e;
        while (root.InnerException is { } inner && root is NpgsqlException { InnerException: not null })
            root = inner;
        var message = root.Message.Split('.', 2)[0];
        return $"{root.GetType().Name}: {(message.Length > 80 ? message[..80] : message)}";
    }

    /// <summary>A node as the workload sees it: whether its table is made, and the keys written there.</summary>
    sealed class NodeState
    {
        readonly Lock _gate = new();
        Task? _table;
        long[] _keys = new long[1024];
        int _count;

        public Task EnsureTableAsync(Workload workload, NpgsqlConnection connection, CancellationToken stop)
        {
            Task table;
            lock (_gate)
            {
                // The first thread to reach the node makes the table; the others wait for it. A failed attempt is made again.
                if (_table is null || _table.IsFaulted || _table.IsCanceled)
                    _table = workload.CreateTableAsync(connection, stop);
                table = _table;
            }

            return table;
        }

        public void Written(long key)
        {
            lock (_gate)
            {
                if (_count == _keys.Length)
                    Array.Resize(ref _keys, _keys.Length * 2);
                _keys[_count] = key;
                Volatile.Write(ref _count, _count + 1);
            }
        }

        public long AnyKey()
        {
            var keys = Volatile.Read(ref _keys);
            var count = Math.Min(Volatile.Read(ref _count), keys.Length);
            return count == 0 ? 0 : keys[Random.Shared.Next(count)];
        }
    }
}

/// <summary>A run's outcome: its settings, how long it ran, each second, the totals, and the servers the driver learned.</summary>
sealed record RunResult(WorkloadSettings Settings, TimeSpan Elapsed, IReadOnlyList<Second> Seconds, Totals Totals, IReadOnlyList<string> Servers);
