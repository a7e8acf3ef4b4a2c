using System.Collections.Concurrent;
using System.Globalization;
using Npgsql;

namespace BrightDb.Npgsql;

/// <summary>
/// psycopg2's <c>connect(...)</c> for .NET: open a balanced connection from a connection string or keyword/value pairs.
/// One <see cref="BrightDbDataSource"/> is kept per distinct connection string for the life of the process (like
/// Npgsql's own pool cache), so repeated calls with the same string share counts, pools and topology.
/// </summary>
public static class BrightDbDriver
{
    static readonly ConcurrentDictionary<string, Lazy<BrightDbDataSource>> DataSources = new(StringComparer.Ordinal);

    /// <summary>Opens a connection; closing or disposing it returns it.</summary>
    /// <exception cref="ArgumentException">The connection string is malformed or holds an unknown keyword or an invalid value.</exception>
    /// <exception cref="NpgsqlException">No eligible server could be reached.</exception>
    public static NpgsqlConnection Connect(string connectionString) => GetDataSource(connectionString).OpenConnection();

    /// <summary>Opens a connection from keyword/value pairs (<c>load_balance = "True"</c>, <c>port = 2521</c>, …).</summary>
    /// <exception cref="ArgumentException">An unknown keyword or an invalid value.</exception>
    /// <exception cref="NpgsqlException">No eligible server could be reached.</exception>
    public static NpgsqlConnection Connect(IReadOnlyDictionary<string, object?> properties) => GetDataSource(properties).OpenConnection();

    /// <summary>Opens a connection asynchronously.</summary>
    /// <exception cref="ArgumentException">The connection string is malformed or holds an unknown keyword or an invalid value.</exception>
    /// <exception cref="NpgsqlException">No eligible server could be reached.</exception>
    public static async Task<NpgsqlConnection> ConnectAsync(string connectionString, CancellationToken cancellationToken = default) =>
        await GetDataSource(connectionString).OpenConnectionAsync(cancellationToken).ConfigureAwait(false);

    /// <summary>The shared data source behind <see cref="Connect(string)"/> for this connection string.</summary>
    public static BrightDbDataSource GetDataSource(string connectionString)
    {
        ArgumentNullException.ThrowIfNull(connectionString);
        return GetOrCreate(connectionString, () => BrightDbDataSource.Create(connectionString));
    }

    /// <summary>The shared data source behind <see cref="Connect(IReadOnlyDictionary{string, object?})"/> for these properties.</summary>
    public static BrightDbDataSource GetDataSource(IReadOnlyDictionary<string, object?> properties)
    {
        ArgumentNullException.ThrowIfNull(properties);
        // The same pairs in any order are the same data source.
        var key = "dict:" + string.Join('\u0001', properties.Where(p => p.Value is not null)
            .Select(p => $"{p.Key}\u0002{Convert.ToString(p.Value, CultureInfo.InvariantCulture)}").Order(StringComparer.Ordinal));
        return GetOrCreate(key, () => BrightDbDataSource.Create(properties));
    }

    static BrightDbDataSource GetOrCreate(string key, Func<BrightDbDataSource> create)
    {
        var lazy = DataSources.GetOrAdd(key, _ => new Lazy<BrightDbDataSource>(create));
        try
        {
            return lazy.Value;
        }
        catch
        {
            // A bad string must not stay cached as a failure: the next call parses it again and reports it again.
            DataSources.TryRemove(new KeyValuePair<string, Lazy<BrightDbDataSource>>(key, lazy));
            throw;
        }
    }

    /// <summary>Disposes every shared data source (closing their pooled connections) and forgets them.</summary>
    public static async Task ClearAsync()
    {
        foreach (var key in DataSources.Keys)
        {
            if (DataSources.TryRemove(key, out var lazy) && lazy.IsValueCreated)
                await lazy.Value.DisposeAsync().ConfigureAwait(false);
        }
    }
}
