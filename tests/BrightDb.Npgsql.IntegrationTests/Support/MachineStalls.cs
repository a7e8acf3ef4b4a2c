using System.Diagnostics;

namespace BrightDb.Npgsql.IntegrationTests.Support;

/// <summary>
/// Notices when this test process did not run for a while: the machine (or the virtual machine it is) stalled, another
/// process took both cores, or a garbage collection blocked every thread. A thread of its own asks to wake every 5 ms and
/// records each wake more than 20 ms late. A test whose requirement is a duration measures again, once, when such a stall
/// within its measurement was at least as long as its excess over the requirement, and says so in its output: the stall
/// then explains the excess, and says nothing of the driver. The requirement itself is unchanged.
/// </summary>
static class MachineStalls
{
    static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(5);
    static readonly TimeSpan Late = TimeSpan.FromMilliseconds(20);
    static readonly Lock Gate = new();
    static readonly Queue<(long End, TimeSpan Length)> Stalls = new();
    static Thread? _watcher;

    /// <summary>Starts watching (once per process) and returns the moment a measurement begins.</summary>
    public static long Mark()
    {
        lock (Gate)
        {
            if (_watcher is null)
            {
                _watcher = new Thread(Watch) { IsBackground = true, Name = "machine-stall-watch", Priority = ThreadPriority.AboveNormal };
                _watcher.Start();
            }
        }

        return Stopwatch.GetTimestamp();
    }

    /// <summary>The longest stall that ended after <paramref name="mark"/>.</summary>
    public static TimeSpan LongestSince(long mark)
    {
        lock (Gate)
            return Stalls.Where(s => s.End >= mark).Select(s => s.Length).DefaultIfEmpty(TimeSpan.Zero).Max();
    }

    /// <summary>
    /// Whether a measurement that began at <paramref name="mark"/> and exceeded its requirement by <paramref name="excess"/>
    /// should be taken again: a stall at least that long fell within it. Writes why to <paramref name="log"/>.
    /// </summary>
    public static bool Explain(long mark, TimeSpan excess, Action<string> log)
    {
        if (excess <= TimeSpan.Zero)
            return false;
        var stall = LongestSince(mark);
        if (stall < excess)
            return false;
        log($"the process stalled {stall.TotalMilliseconds:F0} ms during the measurement, at least its {excess.TotalMilliseconds:F0} ms over the requirement: measuring again");
        return true;
    }

    static void Watch()
    {
        while (true)
        {
            var before = Stopwatch.GetTimestamp();
            Thread.Sleep(Tick);
            var after = Stopwatch.GetTimestamp();
            var lateBy = Stopwatch.GetElapsedTime(before, after) - Tick;
            if (lateBy <= Late)
                continue;
            lock (Gate)
            {
                Stalls.Enqueue((after, lateBy));
                while (Stalls.Count > 1000)
                    Stalls.Dequeue();
            }
        }
    }
}
