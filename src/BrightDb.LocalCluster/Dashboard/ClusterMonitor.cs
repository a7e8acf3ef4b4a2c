using BrightDb.LocalCluster.Internal;

namespace BrightDb.LocalCluster.Dashboard;

/// <summary>
/// Samples a cluster for the dashboard and keeps the last <see cref="HistoryLength"/> of each node's client connections.
/// <para>
/// Flow of one sample (<see cref="SampleAsync"/>), every <see cref="Interval"/> once <see cref="Start"/> is called:
/// <list type="number">
/// <item>Read the nodes and their states (for the CLI, from the cluster's state file, so stop, kill and pause show).</item>
/// <item>Ask every running node for its client backends (<c>pg_stat_activity</c>, as its rpcz page does), unless the
/// previous question to it is still unanswered: a slow node never has two questions pending.</item>
/// <item>Wait for the answers for at most 80% of the interval; a node that answers later is counted on a later sample.</item>
/// <item>Publish an immutable <see cref="ClusterView"/>: readers (<see cref="View"/>) never wait for a sample.</item>
/// </list>
/// </para>
/// A paused node answers nothing and its connections are shown as unknown; a stopped or killed node has none.
/// </summary>
public sealed class ClusterMonitor : IAsyncDisposable
{
    /// <summary>How much history a node's sparkline shows.</summary>
    public static readonly TimeSpan HistoryLength = TimeSpan.FromMinutes(5);

    /// <summary>How long a node may leave a question unanswered before its count is shown as unknown.</summary>
    static readonly TimeSpan AnswerDeadline = TimeSpan.FromSeconds(3);

    readonly Func<CancellationToken, ValueTask<IReadOnlyList<LocalNode>?>> _nodes;
    readonly TimeProvider _time;
    readonly int _historyCapacity;
    readonly CancellationTokenSource _stopping = new();
    readonly SemaphoreSlim _sampling = new(1, 1);

    // Touched only while holding _sampling.
    readonly Dictionary<int, NodeSampler> _samplers = [];

    ClusterView _view;
    Task? _loop;
    int _started;
    bool _disposed;

    /// <summary>Creates a monitor; nothing is sampled until <see cref="Start"/> or <see cref="SampleAsync"/>.</summary>
    /// <param name="nodes">Reads the cluster's nodes; returns <see langword="null"/> when the cluster is gone.</param>
    /// <param name="interval">How often to sample (default 500 ms).</param>
    /// <param name="timeProvider">The clock (default: the system's).</param>
    public ClusterMonitor(Func<CancellationToken, ValueTask<IReadOnlyList<LocalNode>?>> nodes, TimeSpan? interval = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(nodes);
        Interval = interval ?? TimeSpan.FromMilliseconds(500);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(Interval, TimeSpan.Zero, nameof(interval));
        _nodes = nodes;
        _time = timeProvider ?? TimeProvider.System;
        _historyCapacity = Math.Max(1, (int)(HistoryLength / Interval));
        _view = new ClusterView(_time.GetUtcNow(), [], 0, (int)Interval.TotalMilliseconds);
    }

    /// <summary>How often a sample is taken once started.</summary>
    public TimeSpan Interval { get; }

    /// <summary>The last published view (an empty one before the first sample).</summary>
    public ClusterView View => Volatile.Read(ref _view);

    /// <summary>Starts sampling in the background, once; later calls do nothing.</summary>
    public void Start()
    {
        if (Interlocked.Exchange(ref _started, 1) == 0)
        {
            _loop = Task.Run(() => LoopAsync(_stopping.Token));
        }
    }

    /// <summary>Takes one sample and publishes its view.</summary>
    /// <param name="cancellationToken">Cancels the sample.</param>
    /// <returns>The published view.</returns>
    public async Task<ClusterView> SampleAsync(CancellationToken cancellationToken = default)
    {
        await _sampling.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var nodes = await _nodes(cancellationToken).ConfigureAwait(false);
            var now = _time.GetUtcNow();
            if (nodes is null)
            {
                // The cluster is gone (destroyed): nothing to show.
                _samplers.Clear();
                var empty = new ClusterView(now, [], 0, (int)Interval.TotalMilliseconds);
                Volatile.Write(ref _view, empty);
                return empty;
            }

            // Each node's state is read once: another thread (a node operation in this process) may change it meanwhile.
            var present = nodes.Select(n => (Node: n, State: n.State)).Where(n => n.State != NodeState.Removed).OrderBy(n => n.Node.Index).ToList();
            foreach (var (node, state) in present)
            {
                if (!_samplers.TryGetValue(node.Index, out var sampler))
                {
                    _samplers[node.Index] = sampler = new NodeSampler(_historyCapacity);
                }

                if (state == NodeState.Running)
                {
                    sampler.Ask(node, now, _stopping.Token);
                }
            }

            foreach (var gone in _samplers.Keys.Except(present.Select(n => n.Node.Index)).ToList())
            {
                _samplers.Remove(gone);
            }

            var pending = _samplers.Values.Select(s => s.Pending).OfType<Task>().ToList();
            if (pending.Count > 0)
            {
                try
                {
                    await Task.WhenAll(pending).WaitAsync(Interval * 0.8, _time, cancellationToken).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                    // Late answers count on a later sample.
                }
            }

            now = _time.GetUtcNow();
            var cards = present.Select(n => _samplers[n.Node.Index].Record(n.Node, n.State, now)).ToList();
            var view = new ClusterView(now, cards, cards.Sum(c => c.Connections ?? 0), (int)Interval.TotalMilliseconds);
            Volatile.Write(ref _view, view);
            return view;
        }
        finally
        {
            _sampling.Release();
        }
    }

    async Task LoopAsync(CancellationToken stopping)
    {
        using var timer = new PeriodicTimer(Interval, _time);
        do
        {
            try
            {
                await SampleAsync(stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException and not ObjectDisposedException)
            {
                // The state file is being replaced, or a node read failed in an unforeseen way: the next sample tries again,
                // and the view keeps the last sample meanwhile (its time says how old it is).
            }
        }
        while (await WaitAsync(timer).ConfigureAwait(false));

        async Task<bool> WaitAsync(PeriodicTimer t)
        {
            try
            {
                return await t.WaitForNextTickAsync(stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return false;
            }
        }
    }

    /// <summary>Stops sampling and waits for the background loop to end.</summary>
    /// <returns>A task completing when nothing samples any more.</returns>
    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_loop is { } loop)
        {
            await loop.ConfigureAwait(false);
        }

        // A sample a reader started (SampleAsync) ends before the monitor is disposed; later ones are refused.
        await _sampling.WaitAsync().ConfigureAwait(false);
        if (_disposed)
        {
            _sampling.Release();
            return;
        }

        _disposed = true;
        _stopping.Dispose();
        _sampling.Release();
    }

    /// <summary>One node's question in flight, last answer and history. Used under the monitor's sampling lock only.</summary>
    sealed class NodeSampler(int capacity)
    {
        readonly Queue<int?> _history = new(capacity);
        Answer? _last;
        DateTimeOffset _askedAt;

        public Task<Answer>? Pending { get; private set; }

        public void Ask(LocalNode node, DateTimeOffset now, CancellationToken stopping)
        {
            if (Pending is not null)
            {
                return;
            }

            _askedAt = now;
            Pending = AskAsync(node, stopping);
        }

        public NodeView Record(LocalNode node, NodeState state, DateTimeOffset now)
        {
            if (Pending is { IsCompleted: true } done)
            {
                _last = done.Result;
                Pending = null;
            }

            int? connections = null;
            string? error = null;
            IReadOnlyList<ApplicationConnections> applications = [];
            switch (state)
            {
                case NodeState.Running when Pending is not null && now - _askedAt > AnswerDeadline:
                    error = $"no answer for {(now - _askedAt).TotalSeconds:0} s";
                    break;
                case NodeState.Running when _last is { Error: { } failed }:
                    error = failed;
                    break;
                case NodeState.Running when _last is { } answer:
                    connections = answer.Applications.Sum(a => a.Connections);
                    applications = answer.Applications;
                    break;
                case NodeState.Running or NodeState.Paused:
                    break;
                default:
                    connections = 0;
                    break;
            }

            if (state != NodeState.Running)
            {
                // A node that comes back starts afresh rather than showing what it had before.
                _last = null;
            }

            if (_history.Count == capacity)
            {
                _history.Dequeue();
            }

            _history.Enqueue(connections);
            return new NodeView(node.Index, node.Address, node.Placement.ToString(), node.Type.ToYbServersName(), state.ToString().ToLowerInvariant(),
                connections, applications, [.. _history], error);
        }

        static async Task<Answer> AskAsync(LocalNode node, CancellationToken stopping)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
            timeout.CancelAfter(TimeSpan.FromSeconds(10));
            try
            {
                var backends = await AdminSql.ClientBackendsAsync(node, timeout.Token).ConfigureAwait(false);
                var applications = backends
                    .GroupBy(b => b.ApplicationName ?? "", StringComparer.Ordinal)
                    .Select(g => new ApplicationConnections(g.Key, g.Count()))
                    .OrderByDescending(a => a.Connections)
                    .ThenBy(a => a.Name, StringComparer.Ordinal)
                    .ToList();
                return new Answer(applications, null);
            }
            catch (Exception ex)
            {
                // Whatever the failure (refused, timed out, a TLS or password error), the card says it and the next sample
                // asks again: one node's error never stops the monitor.
                return new Answer([], ex.Message);
            }
        }
    }

    sealed record Answer(IReadOnlyList<ApplicationConnections> Applications, string? Error);
}
