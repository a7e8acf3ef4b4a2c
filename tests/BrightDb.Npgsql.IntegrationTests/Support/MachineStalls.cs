using System.Diagnostics;

namespace BrightDb.Npgsql.IntegrationTests.Support;

/// <summary>
/// Notices when this test process could not run its code on time, in two ways:
/// <list type="bullet">
/// <item>the process did not run at all for a while: the machine (or the virtual machine it is) stalled, another process
/// took both cores, or a garbage collection blocked every thread. A thread of its own asks to wake every 5 ms and records
/// each wake more than 20 ms late;</item>
/// <item>the process ran, but its timers fired late: every thread of the thread pool was busy, so a timer's callback (what
/// ends an asynchronous wait at a deadline, in the driver as anywhere in .NET) waited in its queue. A loop on the thread
/// pool waits 5 ms again and again (<see cref="Task.Delay(TimeSpan)"/>, the same timers and the same pool) and records each
/// wait that ended more than 20 ms late, with the pool's threads and queued items at that moment.</item>
/// </list>
/// A test whose requirement is a duration measures again, once, when such a stall within its measurement was at least as
/// long as its excess over the requirement, and says so in its output: the stall then explains the excess. The requirement
/// itself is unchanged, and the second measurement must meet it.
/// </summary>
static class MachineStalls
{
    static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(5);
    static readonly TimeSpan Late = TimeSpan.FromMilliseconds(20);
    static readonly Lock Gate = new();
    static readonly Queue<Stall> Stalls = new();
    static Thread? _watcher;

    /// <summary>One late wake: when it ended, by how much it was late, and what was late.</summary>
    readonly record struct Stall(long End, TimeSpan Length, string What);

    /// <summary>Starts watching (once per process) and returns the moment a measurement begins.</summary>
    public static long Mark()
    {
        lock (Gate)
        {
            if (_watcher is null)
            {
                _watcher = new Thread(Watch) { IsBackground = true, Name = "machine-stall-watch", Priority = ThreadPriority.AboveNormal };
                _watcher.Start();
                _ = Task.Run(WatchTimersAsync);
            }
        }

        return Stopwatch.GetTimestamp();
    }

    /// <summary>The longest stall that ended after <paramref name="mark"/>, or <see langword="null"/>.</summary>
    static Stall? LongestSince(long mark)
    {
        lock (Gate)
            return Stalls.Where(s => s.End >= mark).OrderByDescending(s => s.Length).Select(s => (Stall?)s).FirstOrDefault();
    }

    /// <summary>What stalled since <paramref name="mark"/>, for a test's output when its measurement fails.</summary>
    public static string Describe(long mark) =>
        LongestSince(mark) is { } stall
            ? $"longest stall during the measurement: {stall.Length.TotalMilliseconds:F0} ms ({stall.What})"
            : "no stall over 20 ms during the measurement";

    /// <summary>
    /// Whether a measurement that began at <paramref name="mark"/> and exceeded its requirement by <paramref name="excess"/>
    /// should be taken again: a stall at least that long fell within it. Writes why to <paramref name="log"/>.
    /// </summary>
    public static bool Explain(long mark, TimeSpan excess, Action<string> log)
    {
        if (excess <= TimeSpan.Zero)
            return false;
        if (LongestSince(mark) is not { } stall || stall.Length < excess)
            return false;
        log($"{stall.What}: {stall.Length.TotalMilliseconds:F0} ms late during the measurement, at least its {excess.TotalMilliseconds:F0} ms over the requirement: measuring again");
        return true;
    }

    static void Record(long end, TimeSpan lateBy, string what)
    {
        lock (Gate)
        {
            Stalls.Enqueue(new Stall(end, lateBy, what));
            while (Stalls.Count > 1000)
                Stalls.Dequeue();
        }
    }

    static void Watch()
    {
        while (true)
        {
            var before = Stopwatch.GetTimestamp();
            Thread.Sleep(Tick);
            var after = Stopwatch.GetTimestamp();
            var lateBy = Stopwatch.GetElapsedTime(before, after) - Tick;
            if (lateBy > Late)
                Record(after, lateBy, "the process did not run");
        }
    }

    static async Task WatchTimersAsync()
    {
        while (true)
        {
            var before = Stopwatch.GetTimestamp();
            await Task.Delay(Tick).ConfigureAwait(false);
            var after = Stopwatch.GetTimestamp();
            var lateBy = Stopwatch.GetElapsedTime(before, after) - Tick;
            if (lateBy > Late)
                Record(after, lateBy, $"the thread pool ran a timer late ({ThreadPool.ThreadCount} threads, {ThreadPool.PendingWorkItemCount} items queued)");
        }
    }
}
