using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Npgsql;

namespace BrightDb.Benchmarks;

/// <summary>Where a soak cycle failed: its open, or its <c>SELECT 1</c> on a connection it had open.</summary>
enum SoakPhase
{
    /// <summary>The open failed.</summary>
    Open,

    /// <summary><c>SELECT 1</c> failed, and a fault was applied while the connection was open.</summary>
    InUseFaultBegan,

    /// <summary><c>SELECT 1</c> failed under a fault that had begun (was being applied or in effect) when the connection was opened.</summary>
    InUseUnderFault,

    /// <summary><c>SELECT 1</c> failed with no fault in effect and none applied since the connection was opened.</summary>
    InUseNoFault,
}

/// <summary>
/// What the soak's cycles did: how many ran, the errors grouped by kind (the exception's type, SQLSTATE or a short reason,
/// and its innermost cause) and by phase, and each successful open's time.
/// </summary>
sealed partial class SoakTally
{
    readonly ConcurrentDictionary<(string Kind, SoakPhase Phase), int> _errors = new();
    readonly ConcurrentDictionary<string, string> _examples = new(StringComparer.Ordinal);
    readonly List<double>[] _openMs;
    long _done;
    long _failed;

    internal SoakTally(int tasks) => _openMs = [.. Enumerable.Range(0, tasks).Select(_ => new List<double>())];

    internal long Done => Interlocked.Read(ref _done);

    internal long Failed => Interlocked.Read(ref _failed);

    /// <summary>A successful open of task <paramref name="task"/> (only that task writes its list).</summary>
    internal void Opened(int task, double milliseconds) => _openMs[task].Add(milliseconds);

    internal void Completed() => Interlocked.Increment(ref _done);

    internal void Error(Exception error, SoakPhase phase)
    {
        var kind = Kind(error);
        _errors.AddOrUpdate((kind, phase), 1, (_, n) => n + 1);
        _examples.TryAdd(kind, OneLine(error.Message, 300));
        Interlocked.Increment(ref _failed);
    }

    /// <summary>Open times in milliseconds, sorted; call once the cycles have stopped.</summary>
    internal List<double> SortedOpenTimes() => [.. _openMs.SelectMany(l => l).Order()];

    /// <summary>Error count per kind and phase (in <see cref="SoakPhase"/> order), most frequent kind first.</summary>
    internal List<(string Kind, int[] ByPhase)> ErrorsByKind() =>
    [
        .. _errors.GroupBy(e => e.Key.Kind)
            .Select(g => (g.Key, Enum.GetValues<SoakPhase>().Select(p => g.Where(e => e.Key.Phase == p).Sum(e => e.Value)).ToArray()))
            .OrderByDescending(e => e.Item2.Sum())
            .ThenBy(e => e.Key, StringComparer.Ordinal),
    ];

    internal string Example(string kind) => _examples.GetValueOrDefault(kind, "");

    /// <summary>The most frequent kinds so far, for the progress line.</summary>
    internal string Brief(int kinds)
    {
        var all = ErrorsByKind();
        if (all.Count == 0)
            return "none";
        var shown = all.Take(kinds).Select(e => $"{e.ByPhase.Sum()} {Short(e.Kind)}");
        return string.Join(", ", shown) + (all.Count > kinds ? $", +{all.Count - kinds} kinds" : "");
    }

    static string Short(string kind) => kind.Length <= 60 ? kind : kind[..57] + "...";

    /// <summary>
    /// A stable name for an error: its type, its SQLSTATE or the first sentence of its message with numbers and addresses
    /// taken out, and the type of its innermost cause (with the socket error or SQLSTATE); several causes are "several".
    /// </summary>
    internal static string Kind(Exception error)
    {
        var head = error switch
        {
            PostgresException p => $"{p.GetType().Name} {p.SqlState}",
            SocketException s => $"{s.GetType().Name} {s.SocketErrorCode}",
            _ => $"{error.GetType().Name}: {Reason(error.Message)}",
        };
        var inner = error.InnerException;
        if (inner is null)
            return head;
        while (inner.InnerException is not null && inner is not AggregateException)
            inner = inner.InnerException;
        var cause = inner switch
        {
            AggregateException { InnerExceptions.Count: > 1 } => "several",
            PostgresException p => $"{p.GetType().Name} {p.SqlState}",
            SocketException s => $"{s.GetType().Name} {s.SocketErrorCode}",
            _ => inner.GetType().Name,
        };
        return $"{head} <- {cause}";
    }

    static string Reason(string message)
    {
        var first = Numbers().Replace(OneLine(message, 200), "#");
        var end = first.IndexOfAny(['.', ';', '(']);
        if (end > 0)
            first = first[..end];
        first = first.Trim();
        return first.Length <= 60 ? first : first[..60];
    }

    static string OneLine(string text, int max)
    {
        var line = text.Split('\n')[0].Trim();
        return line.Length <= max ? line : line[..max] + "...";
    }

    /// <summary>Addresses, ports, durations and counts: whatever differs from one occurrence of an error to the next.</summary>
    [GeneratedRegex(@"[0-9a-fA-F]*\d[0-9a-fA-F]*([.:][0-9a-fA-F]*\d[0-9a-fA-F]*)*")]
    private static partial Regex Numbers();
}
