using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using BrightDb.LocalCluster;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace BrightDb.Npgsql.Ecosystem.Tests;

/// <summary>The tutorial's cluster (two nodes in us-west-2a, one in us-west-2b), shared by the tests of <see cref="ClusterCollection"/>.</summary>
public sealed class SeedClusterFixture : IAsyncLifetime
{
    internal static readonly string[] SeedPlacements = ["aws.us-west.us-west-2a", "aws.us-west.us-west-2a", "aws.us-west.us-west-2b"];

    LocalCluster.LocalCluster? _cluster;

    public LocalCluster.LocalCluster Cluster => _cluster ?? throw new InvalidOperationException("The cluster is not started.");

    public async Task InitializeAsync() => _cluster = await LocalCluster.LocalCluster.StartAsync(SeedPlacements);

    public async Task DisposeAsync()
    {
        if (_cluster is not null)
            await _cluster.DisposeAsync();
    }

    /// <summary>A balanced ADO.NET connection string naming the first node only; the others are discovered.</summary>
    public string ConnectionString(string applicationName, string extra = "") =>
        Ecosystem.ConnectionString(Cluster, applicationName, extra);
}

[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<SeedClusterFixture>
{
    public const string Name = "seed cluster";
}

static class Ecosystem
{
    /// <remarks>
    /// The machine these tests run on may be loaded (2 cores shared with other builds): a generous hedge delay keeps a
    /// merely slow answer from marking a healthy server down, which would skew the balance the tests check.
    /// </remarks>
    public static string ConnectionString(LocalCluster.LocalCluster cluster, string applicationName, string extra = "")
    {
        var first = cluster.Nodes[0];
        return $"Host={first.Host};Port={first.Port};Database=bigmath;Username=bigmath;Password={cluster.Password};" +
               $"Load Balance Hosts=true;Application Name={applicationName};Timeout=15;Hedged Open Delay=10000{(extra.Length > 0 ? ";" + extra : "")}";
    }

    /// <summary>Server-side counts (by node index, every running node listed) for one application name.</summary>
    public static async Task<int[]> ServerCountsAsync(LocalCluster.LocalCluster cluster, string applicationName)
    {
        var counts = await cluster.GetClientConnectionCountsAsync(applicationName);
        return [.. cluster.Nodes.Select(n => counts.GetValueOrDefault(n.Index))];
    }

    /// <summary>Opens <paramref name="count"/> connections, runs <c>SELECT 1</c> on each, and returns them open.</summary>
    public static async Task<List<NpgsqlConnection>> OpenAndQueryAsync(BrightDbDataSource dataSource, int count)
    {
        var held = new List<NpgsqlConnection>();
        for (var i = 0; i < count; i++)
        {
            var connection = await dataSource.OpenConnectionAsync();
            held.Add(connection);
            await using var command = new NpgsqlCommand("select 1", connection);
            Assert.Equal(1, await command.ExecuteScalarAsync());
        }

        return held;
    }

    /// <summary>Polls until <paramref name="condition"/> holds or <paramref name="timeout"/> passes.</summary>
    public static async Task<bool> EventuallyAsync(Func<Task<bool>> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (await condition())
                return true;
            if (DateTime.UtcNow > deadline)
                return false;
            await Task.Delay(100);
        }
    }
}

/// <summary>One log entry as a provider saw it.</summary>
sealed record LogEntry(string Category, LogLevel Level, EventId EventId, string Message, Exception? Exception, string State);

/// <summary>An <see cref="ILoggerProvider"/> that keeps every entry, at every level.</summary>
sealed class CapturingLoggerProvider : ILoggerProvider
{
    readonly ConcurrentQueue<LogEntry> _entries = new();

    public IReadOnlyList<LogEntry> Entries => [.. _entries];

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _entries);

    public void Dispose()
    {
    }

    sealed class Logger(string category, ConcurrentQueue<LogEntry> entries) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            // The structured values too: a secret must not hide in a parameter that the message template leaves out.
            var values = state is IEnumerable<KeyValuePair<string, object?>> pairs
                ? string.Join("; ", pairs.Select(p => $"{p.Key}={p.Value}"))
                : state?.ToString() ?? "";
            entries.Enqueue(new LogEntry(category, logLevel, eventId, formatter(state, exception), exception, values));
        }
    }
}

/// <summary>One measurement of an instrument, with its tags.</summary>
sealed record MetricRecord(string Meter, string Instrument, double Value, IReadOnlyDictionary<string, object?> Tags)
{
    public string? Tag(string name) => Tags.TryGetValue(name, out var v) ? Convert.ToString(v, System.Globalization.CultureInfo.InvariantCulture) : null;
}

/// <summary>An in-memory collector of the measurements of some meters, through <see cref="MeterListener"/>.</summary>
sealed class MetricCollector : IDisposable
{
    readonly MeterListener _listener = new();
    readonly ConcurrentQueue<MetricRecord> _records = new();

    public MetricCollector(params string[] meters)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (meters.Contains(instrument.Meter.Name))
                listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<int>((i, v, t, _) => Add(i, v, t));
        _listener.SetMeasurementEventCallback<long>((i, v, t, _) => Add(i, v, t));
        _listener.SetMeasurementEventCallback<double>((i, v, t, _) => Add(i, v, t));
        _listener.Start();
    }

    public IReadOnlyList<MetricRecord> Records => [.. _records];

    /// <summary>Reads the observable instruments now (their measurements are added to <see cref="Records"/>).</summary>
    public void Observe() => _listener.RecordObservableInstruments();

    /// <summary>The measurements of one instrument for one data source (its pool-name tag).</summary>
    public IReadOnlyList<MetricRecord> For(string instrument, string dataSource) =>
        [.. Records.Where(r => r.Instrument == instrument && r.Tag("db.client.connection.pool.name") == dataSource)];

    void Add(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var copy = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var tag in tags)
            copy[tag.Key] = tag.Value;
        _records.Enqueue(new MetricRecord(instrument.Meter.Name, instrument.Name, value, copy));
    }

    public void Dispose() => _listener.Dispose();
}
