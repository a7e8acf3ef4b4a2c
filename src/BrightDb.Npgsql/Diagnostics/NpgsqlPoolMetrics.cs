using System.Diagnostics.Metrics;

namespace BrightDb.Npgsql.Diagnostics;

/// <summary>
/// Reads how many physical connections each Npgsql pool holds (idle and in use), through Npgsql's public metrics:
/// Npgsql exposes no pool statistics otherwise, and has no hook when it closes a physical connection.
/// The instrument's name changed between Npgsql 9 and 10; it lives here alone, and a test fails if it changes again.
/// </summary>
static class NpgsqlPoolMetrics
{
    internal const string MeterName = "Npgsql";
    internal const string InstrumentName = "db.client.connection.count";
    internal const string PoolNameTag = "db.client.connection.pool.name";

    static readonly Lock ReadLock = new();
    static MeterListener? _listener;
    static bool _instrumentFound;
    static Dictionary<string, int>? _sink;

    /// <summary>Whether Npgsql published the instrument this reader relies on (false until a first Npgsql data source exists).</summary>
    internal static bool InstrumentFound
    {
        get
        {
            lock (ReadLock)
            {
                EnsureListener();
                return _instrumentFound;
            }
        }
    }

    /// <summary>Physical connections per pool name, idle and busy together. Not a hot path: it asks every Npgsql pool in the process.</summary>
    internal static Dictionary<string, int> ReadConnectionsByPool()
    {
        lock (ReadLock)
        {
            EnsureListener();
            _sink = new Dictionary<string, int>(StringComparer.Ordinal);
            try
            {
                _listener!.RecordObservableInstruments();
                return _sink;
            }
            finally
            {
                _sink = null;
            }
        }
    }

    static void EnsureListener()
    {
        if (_listener is not null)
            return;
        var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == MeterName && instrument.Name == InstrumentName)
                {
                    _instrumentFound = true;
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<int>((_, value, tags, _) => Add(value, tags));
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) => Add((int)value, tags));
        listener.Start();
        _listener = listener;
    }

    static void Add(int value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        // Measurements arrive synchronously inside RecordObservableInstruments, under ReadLock.
        if (_sink is null)
            return;
        foreach (var tag in tags)
        {
            if (tag.Key == PoolNameTag && tag.Value is string pool)
            {
                _sink[pool] = _sink.GetValueOrDefault(pool) + value;
                return;
            }
        }
    }
}
