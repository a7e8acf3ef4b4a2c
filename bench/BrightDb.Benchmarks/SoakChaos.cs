using BrightDb.LocalCluster;
using Cluster = BrightDb.LocalCluster.LocalCluster;

namespace BrightDb.Benchmarks;

/// <summary>
/// The soak's faults: after each interval one random node gets one random fault (a node operation or a fault of its
/// proxy), held a random 1-4 s, then undone. One node at most is faulted at a time, so two of three nodes are always up.
/// </summary>
sealed class SoakChaos(Cluster cluster, int seed, TimeSpan interval)
{
    internal static readonly string[] Kinds =
        ["kill", "stop", "pause", "proxy hang", "proxy stall", "proxy refuse", "proxy latency 100 ms", "proxy reset"];

    /// <summary><see cref="Current"/> when no fault is in effect.</summary>
    internal const string None = "none";

    readonly Random _random = new(seed);
    readonly Dictionary<string, int> _applied = new(StringComparer.Ordinal);
    readonly List<string> _failures = [];
    volatile string _current = None;
    int _epoch;

    /// <summary>The fault in effect now, e.g. <c>node 2: pause</c>, or <c>none</c>.</summary>
    internal string Current => _current;

    /// <summary>Goes up before and after each fault is applied: a connection that sees it change while open met a fault.</summary>
    internal int Epoch => Volatile.Read(ref _epoch);

    /// <summary>Faults applied, by kind; read after <see cref="RunAsync"/> has ended.</summary>
    internal IReadOnlyDictionary<string, int> Applied => _applied;

    /// <summary>Faults that could not be applied or undone, with the reason; read after <see cref="RunAsync"/> has ended.</summary>
    internal IReadOnlyList<string> Failures => _failures;

    /// <summary>Applies faults until <paramref name="ct"/> is cancelled; a fault in effect then is undone before it returns.</summary>
    internal async Task RunAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(interval, ct);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            var node = cluster.Nodes[_random.Next(cluster.Nodes.Count)];
            var kind = Kinds[_random.Next(Kinds.Length)];
            var hold = TimeSpan.FromMilliseconds(_random.Next(1000, 4001));
            var resetBytes = _random.Next(0, 8193);
            var label = kind == "proxy reset" ? $"proxy reset after {resetBytes} bytes" : kind;
            Interlocked.Increment(ref _epoch);
            _current = $"node {node.Index}: {label}";
            try
            {
                await ApplyAsync(node.Index, kind, resetBytes);
                _applied[kind] = _applied.GetValueOrDefault(kind) + 1;
            }
            catch (Exception e) when (e is LocalClusterException or InvalidOperationException or IOException)
            {
                _failures.Add($"{_current}: applying failed: {e.Message.Split('\n')[0]}");
            }
            finally
            {
                // Again once applied: a connection opened while the fault was being applied met it too.
                Interlocked.Increment(ref _epoch);
            }

            try
            {
                // Held through a cancellation too: the cycles have stopped by then, and the fault is undone below.
                await Task.Delay(hold, CancellationToken.None);
            }
            finally
            {
                await UndoAsync(node.Index, kind);
                _current = None;
            }
        }
    }

    async Task ApplyAsync(int node, string kind, int resetBytes)
    {
        switch (kind)
        {
            case "kill":
                await cluster.KillNodeAsync(node);
                break;
            case "stop":
                await cluster.StopNodeAsync(node);
                break;
            case "pause":
                await cluster.PauseNodeAsync(node);
                break;
            case "proxy hang":
                await cluster.SetFaultAsync(node, NodeFault.Hang);
                break;
            case "proxy stall":
                await cluster.SetFaultAsync(node, NodeFault.Stall);
                break;
            case "proxy refuse":
                await cluster.SetFaultAsync(node, NodeFault.Refuse);
                break;
            case "proxy latency 100 ms":
                await cluster.SetFaultAsync(node, NodeFault.Latency(TimeSpan.FromMilliseconds(100)));
                break;
            default:
                await cluster.SetFaultAsync(node, NodeFault.ResetAfter(resetBytes));
                break;
        }
    }

    /// <summary>Undoes the fault, trying up to three times, so that the next fault never finds this node still faulted.</summary>
    async Task UndoAsync(int node, string kind)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                if (kind.StartsWith("proxy", StringComparison.Ordinal))
                    await cluster.ClearFaultAsync(node);
                else
                    await RestoreNodeAsync(cluster.Node(node));
                return;
            }
            catch (Exception e) when (e is LocalClusterException or InvalidOperationException or IOException)
            {
                _failures.Add($"{_current}: undoing failed (attempt {attempt}): {e.Message.Split('\n')[0]}");
                if (attempt == 3)
                    return;
                await Task.Delay(TimeSpan.FromSeconds(1), CancellationToken.None);
            }
        }
    }

    async Task RestoreNodeAsync(LocalNode node)
    {
        if (node.State == NodeState.Paused)
            await cluster.ResumeNodeAsync(node.Index);
        else if (node.State is NodeState.Killed or NodeState.Stopped)
            await cluster.StartNodeAsync(node.Index);
    }

    /// <summary>Every node running with no fault: what the end of a soak checks its counts on.</summary>
    internal async Task RestoreAllAsync()
    {
        foreach (var node in cluster.Nodes)
        {
            await RestoreNodeAsync(node);
            if (node.Fault != NodeFault.None)
                await cluster.ClearFaultAsync(node.Index);
        }
    }
}
