namespace BmSampleApps.Running;

/// <summary>What the workers did: operations by kind and by node, their latencies, and the errors by kind, per second and in all.</summary>
sealed class Measurements
{
    readonly Lock _gate = new();
    Window _window = new();
    readonly LatencyHistogram _reads = new();
    readonly LatencyHistogram _writes = new();
    readonly Dictionary<string, NodeTotals> _nodes = new(StringComparer.Ordinal);
    readonly Dictionary<string, long> _errors = new(StringComparer.Ordinal);

    /// <summary>Where an operation ran when it failed before a server was reached.</summary>
    public const string NoServer = "(no server)";

    public void Succeeded(bool write, string node, double milliseconds, int rowsAdded)
    {
        lock (_gate)
        {
            (write ? _window.Writes : _window.Reads).Add(milliseconds);
            (write ? _writes : _reads).Add(milliseconds);
            _window.Ops[node] = _window.Ops.GetValueOrDefault(node) + 1;
            var totals = Node(node);
            if (write)
                totals.Writes++;
            else
                totals.Reads++;
            totals.RowsAdded += rowsAdded;
        }
    }

    public void Failed(string node, string kind)
    {
        lock (_gate)
        {
            _window.Failed++;
            Node(node).Failed++;
            _errors[kind] = _errors.GetValueOrDefault(kind) + 1;
        }
    }

    NodeTotals Node(string node)
    {
        if (!_nodes.TryGetValue(node, out var totals))
            _nodes[node] = totals = new NodeTotals();
        return totals;
    }

    /// <summary>Ends the current second and returns what happened in it.</summary>
    public Second EndSecond(int number)
    {
        lock (_gate)
        {
            var window = _window;
            _window = new Window();
            return new Second(
                number, window.Reads.Count, window.Reads.Percentile(0.5), window.Reads.Percentile(0.99),
                window.Writes.Count, window.Writes.Percentile(0.5), window.Writes.Percentile(0.99), window.Failed,
                new Dictionary<string, long>(window.Ops, StringComparer.Ordinal), new Dictionary<string, long>(_errors, StringComparer.Ordinal));
        }
    }

    /// <summary>Everything so far.</summary>
    public Totals Snapshot()
    {
        lock (_gate)
        {
            return new Totals(
                _reads.Count, _reads.Percentile(0.5), _reads.Percentile(0.99),
                _writes.Count, _writes.Percentile(0.5), _writes.Percentile(0.99),
                _nodes.ToDictionary(n => n.Key, n => new NodeSummary(n.Value.Reads, n.Value.Writes, n.Value.Failed, n.Value.RowsAdded), StringComparer.Ordinal),
                new Dictionary<string, long>(_errors, StringComparer.Ordinal));
        }
    }

    sealed class Window
    {
        public LatencyHistogram Reads { get; } = new();
        public LatencyHistogram Writes { get; } = new();
        public Dictionary<string, long> Ops { get; } = new(StringComparer.Ordinal);
        public long Failed { get; set; }
    }

    sealed class NodeTotals
    {
        public long Reads { get; set; }
        public long Writes { get; set; }
        public long Failed { get; set; }
        public long RowsAdded { get; set; }
    }
}

/// <summary>One second of the run: operations and latencies (milliseconds), failures, operations per node, errors so far.</summary>
sealed record Second(
    int Number, long Reads, double ReadP50, double ReadP99, long Writes, double WriteP50, double WriteP99, long Failed,
    IReadOnlyDictionary<string, long> OpsByNode, IReadOnlyDictionary<string, long> ErrorsSoFar);

/// <summary>One node's share of the run: successful reads and writes, failed operations, rows its writes added.</summary>
sealed record NodeSummary(long Reads, long Writes, long Failed, long RowsAdded)
{
    public long Ops => Reads + Writes;
}

/// <summary>The whole run.</summary>
sealed record Totals(
    long Reads, double ReadP50, double ReadP99, long Writes, double WriteP50, double WriteP99,
    IReadOnlyDictionary<string, NodeSummary> Nodes, IReadOnlyDictionary<string, long> Errors)
{
    public long Failed => Errors.Values.Sum();
}
