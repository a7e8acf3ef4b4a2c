using System.Diagnostics;

namespace BrightDb.Npgsql.IntegrationTests.Support;

/// <summary>
/// Times an open where an application's open runs, for the tests whose requirement is a duration. On the thread pool, the
/// clock stops where the open's outcome arrives, not after a hop back to the test framework's synchronization context
/// (two threads, which other work of the test process may keep busy).
/// </summary>
static class TimedOpen
{
    /// <summary>Runs <paramref name="open"/> and returns how long it took, and its connection or its error.</summary>
    /// <param name="open">The open.</param>
    /// <param name="onThreadPool">False to run it on the caller's thread (a synchronous open, which blocks its own thread).</param>
    public static Task<(TimeSpan Elapsed, T? Connection, Exception? Error)> RunAsync<T>(Func<Task<T>> open, bool onThreadPool = true)
        where T : class
    {
        return onThreadPool ? Task.Run(Measure) : Measure();

        async Task<(TimeSpan, T?, Exception?)> Measure()
        {
            var watch = Stopwatch.StartNew();
            try
            {
                var connection = await open().ConfigureAwait(false);
                return (watch.Elapsed, connection, null);
            }
            catch (Exception e)
            {
                return (watch.Elapsed, null, e);
            }
        }
    }
}
