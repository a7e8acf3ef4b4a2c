using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using BrightDb.LocalCluster;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace BrightDb.Npgsql.IntegrationTests;

/// <summary>
/// A logger factory and provider that records every entry of every level (the driver's and Npgsql's, which the data
/// source hands the same factory), with its formatted message, its structured values and its exception.
/// </summary>
sealed class LogRecorder(ITestOutputHelper? output = null) : ILoggerFactory, ILoggerProvider
{
    readonly ConcurrentQueue<RecordedLog> _entries = new();
    readonly ITestOutputHelper? _output = output;

    public IReadOnlyList<RecordedLog> Entries => [.. _entries];

    /// <summary>The driver's entries with the given event id (Npgsql's own event ids overlap the driver's).</summary>
    public IReadOnlyList<RecordedLog> WithId(int eventId) =>
        [.. _entries.Where(e => e.EventId.Id == eventId && e.IsDriver)];

    public ILogger CreateLogger(string categoryName) => new Recorder(this, categoryName);

    public void AddProvider(ILoggerProvider provider) => throw new NotSupportedException("The recorder is its own only provider.");

    public void Dispose()
    {
    }

    sealed class Recorder(LogRecorder owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var values = new Dictionary<string, string?>(StringComparer.Ordinal);
            if (state is IEnumerable<KeyValuePair<string, object?>> pairs)
            {
                foreach (var (key, value) in pairs)
                    values[key] = Convert.ToString(value, CultureInfo.InvariantCulture);
            }

            var entry = new RecordedLog(category, logLevel, eventId, formatter(state, exception), values, exception);
            owner._entries.Enqueue(entry);
            if (owner._output is not null && entry.IsDriver)
            {
                try
                {
                    // The driver's own lines go to the test's output, so that a failed balance assertion shows why.
                    owner._output.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} {entry}");
                }
                catch (InvalidOperationException)
                {
                    // A background refresh may log after the test ended.
                }
            }
        }
    }
}

/// <summary>One recorded log entry.</summary>
sealed record RecordedLog(
    string Category, LogLevel Level, EventId EventId, string Message, IReadOnlyDictionary<string, string?> Values, Exception? Exception)
{
    /// <summary>Everything the entry would show anywhere: its message, its structured values and its exception with inner ones.</summary>
    public string FullText =>
        $"{Message} | {string.Join(", ", Values.Select(v => $"{v.Key}={v.Value}"))} | {Exception}";

    /// <summary>An entry of the driver's own categories (Npgsql's event ids overlap the driver's).</summary>
    public bool IsDriver => Category.StartsWith("BrightDb.Npgsql.", StringComparison.Ordinal);

    public override string ToString() => $"[{Level} {EventId.Id} {Category}] {Message}";
}

/// <summary>Small helpers shared by the topology, discovery, listed-host, bad-row and authentication tests.</summary>
static class ClusterWaits
{
    /// <summary>Polls <paramref name="condition"/> until it holds; fails after <paramref name="seconds"/> with <paramref name="what"/>.</summary>
    public static async Task UntilAsync(Func<Task<bool>> condition, string what, double seconds = 20)
    {
        var watch = Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(seconds), $"not reached within {seconds} s: {what}");
            await Task.Delay(100);
        }
    }

    /// <summary>Client connections of <paramref name="app"/> on one node as the server counts them (0 when the node is not running).</summary>
    public static async Task<int> ServerCountAsync(LocalCluster.LocalCluster cluster, string app, LocalNode node) =>
        (await cluster.GetClientConnectionCountsAsync(app)).GetValueOrDefault(node.Index);

    /// <summary>Waits until the server-side count of <paramref name="app"/> on <paramref name="node"/> is <paramref name="expected"/> (backends exit asynchronously).</summary>
    public static async Task ServerCountBecomesAsync(LocalCluster.LocalCluster cluster, string app, LocalNode node, int expected)
    {
        var last = -1;
        var watch = Stopwatch.StartNew();
        while ((last = await ServerCountAsync(cluster, app, node)) != expected)
        {
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"not reached within 20 s: server count of '{app}' on node {node.Index} to be {expected} (last {last})");
            await Task.Delay(100);
        }
    }

    /// <summary>The <c>yb_servers()</c> row of a node as the cluster itself reports it.</summary>
    public static YbServersRow RowOf(LocalCluster.LocalCluster cluster, LocalNode node) => new(
        node.Host, node.Port, 0, node.Type == NodeType.Primary ? "primary" : "read_replica", node.Placement.Cloud, node.Placement.Region,
        node.Placement.Zone, node.Host, node.Uuid, cluster.UniverseUuid);

    /// <summary>The map's count for a host, or null when the map has no entry for it.</summary>
    public static int? MapCount(BrightDbDataSource dataSource, string host) =>
        dataSource.GetHostToConnectionMap().TryGetValue(host, out var count) ? count : null;
}
