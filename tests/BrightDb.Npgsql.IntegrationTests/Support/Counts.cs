using System.Diagnostics;
using System.Runtime.CompilerServices;
using Npgsql;
using NpgsqlTypes;
using Cluster = BrightDb.LocalCluster.LocalCluster;

namespace BrightDb.Npgsql.IntegrationTests.Support;

/// <summary>
/// Connection counts per node, in node order, written <c>10/10/10</c> so a failed assertion reads like the acceptance list;
/// <c>-</c> is a node absent from the driver's map, or not running on the server side.
/// </summary>
static class Counts
{
    /// <summary>How long the servers may take to end backends whose client closed (a backend exits asynchronously).</summary>
    static readonly TimeSpan ServerSettleTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// For tests of where connections go (topology keys, node types, counting), not of hung servers: hedging is off, so an
    /// open slowed by a loaded machine is not taken for a hung server.
    /// </summary>
    internal const string NoHedging = "Hedged Open Delay=0";

    /// <summary>
    /// For exact-count tests of the driver as configured otherwise by default (the tutorial's forms, pooling, concurrent
    /// opens), where hedging is not the subject: at its 2 s default a loaded machine can trip it on a healthy server and
    /// skew the counts, so it waits 10 s (a hung server is still hedged, only later). In the ADO.NET form; the libpq,
    /// URI and dictionary forms spell it <see cref="PatientHedgingKey"/>.
    /// </summary>
    internal const string PatientHedging = "Hedged Open Delay=10000";

    /// <summary>The libpq-style keyword and value of <see cref="PatientHedging"/>.</summary>
    internal const string PatientHedgingKey = "hedged_open_delay";

    /// <inheritdoc cref="PatientHedgingKey"/>
    internal const string PatientHedgingValue = "10000";

    static readonly ConditionalWeakTable<BrightDbDataSource, List<string>> Events = new();

    /// <summary>Creates a data source whose down/up events are recorded, to explain a failed count assertion.</summary>
    internal static BrightDbDataSource Create(string connectionString) => Watch(BrightDbDataSource.Create(connectionString));

    /// <inheritdoc cref="Create(string)"/>
    internal static BrightDbDataSource Create(IReadOnlyDictionary<string, object?> properties) => Watch(BrightDbDataSource.Create(properties));

    internal static BrightDbDataSource Watch(BrightDbDataSource dataSource)
    {
        var events = Events.GetValue(dataSource, _ => []);
        var watch = Stopwatch.StartNew();
        dataSource.HostMarkedDown += (_, e) => Note(events, watch, $"{e.Host} marked down: {e.Reason}");
        dataSource.HostMarkedUp += (_, e) => Note(events, watch, $"{e.Host} marked up");
        return dataSource;
    }

    static void Note(List<string> events, Stopwatch watch, string what)
    {
        lock (events)
            events.Add($"+{watch.ElapsedMilliseconds} ms {what}");
    }

    /// <summary>The driver's map equals <paramref name="expected"/>; if not, the failure lists the servers marked down or up meanwhile.</summary>
    internal static void AssertMap(string expected, BrightDbDataSource dataSource, Cluster cluster)
    {
        var actual = Map(dataSource, cluster);
        if (actual != expected)
            Assert.Fail($"Driver map: expected {expected}, actual {actual}.{Explain(dataSource)}");
    }

    /// <summary>The servers marked down or up so far, for failure messages.</summary>
    internal static string Explain(BrightDbDataSource dataSource)
    {
        if (!Events.TryGetValue(dataSource, out var events))
            return "";
        lock (events)
            return events.Count == 0 ? " No server was marked down or up." : " Events: " + string.Join("; ", events);
    }

    internal static string Format(IEnumerable<int?> counts) => string.Join("/", counts.Select(c => c?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "-"));

    /// <summary>The counts sorted ascending, for spreads that may land in any order (4/3/3 → 3/3/4).</summary>
    internal static string Sorted(string formatted) => string.Join("/", formatted.Split('/').OrderBy(s => s.Length).ThenBy(s => s, StringComparer.Ordinal));

    /// <summary>The data source's map read per node of <paramref name="cluster"/>; fails if the map names a host of no node.</summary>
    internal static string Map(BrightDbDataSource dataSource, Cluster cluster)
    {
        var map = dataSource.GetHostToConnectionMap();
        var hosts = cluster.Nodes.Select(n => n.Host).ToHashSet(StringComparer.Ordinal);
        Assert.All(map.Keys, host => Assert.Contains(host, hosts));
        return Format(cluster.Nodes.Select(n => map.TryGetValue(n.Host, out var count) ? count : (int?)null));
    }

    /// <summary>Client connections of user bigmath with <paramref name="applicationName"/> per node, as the servers count them now.</summary>
    internal static async Task<string> ServerAsync(Cluster cluster, string applicationName)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var counts = await cluster.GetClientConnectionCountsAsync(applicationName);
                return Format(cluster.Nodes.Select(n => counts.TryGetValue(n.Index, out var count) ? count : (int?)null));
            }
            catch (NpgsqlException e) when (attempt < 3 && e.InnerException is TimeoutException)
            {
                // The counting query's own connection (5 s timeout) can time out on a saturated machine: ask again.
            }
        }
    }

    /// <summary>
    /// The servers' counts once they equal <paramref name="expected"/>, or the last counts read after a few seconds: closes
    /// reach the server asynchronously (the backend exits after the client's Terminate message).
    /// </summary>
    internal static async Task<string> ServerEventuallyAsync(Cluster cluster, string applicationName, string expected)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            var actual = await ServerAsync(cluster, applicationName);
            if (actual == expected || watch.Elapsed > ServerSettleTimeout)
                return actual;
            await Task.Delay(50);
        }
    }

    /// <summary><see cref="ServerEventuallyAsync"/> for spreads in any order.</summary>
    internal static async Task<string> ServerSortedEventuallyAsync(Cluster cluster, string applicationName, string expectedSorted)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            var actual = Sorted(await ServerAsync(cluster, applicationName));
            if (actual == expectedSorted || watch.Elapsed > ServerSettleTimeout)
                return actual;
            await Task.Delay(50);
        }
    }

    /// <summary>Client connections of any user with <paramref name="applicationName"/> per node, with their user and database.</summary>
    internal static async Task<string> ServerByUserAsync(Cluster cluster, string applicationName, string user, string database)
    {
        var counts = new List<int?>();
        foreach (var node in cluster.Nodes)
        {
            await using var connection = new NpgsqlConnection(
                new NpgsqlConnectionStringBuilder(cluster.AdminConnectionString(node.Index)) { Pooling = false, ApplicationName = "bm-dev-ctl" }.ConnectionString);
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand(
                """
                SELECT count(*)::int FROM pg_catalog.pg_stat_activity
                WHERE backend_type = 'client backend' AND pid <> pg_catalog.pg_backend_pid()
                  AND application_name = @app AND usename = @user AND datname = @db
                """,
                connection);
            command.Parameters.Add(new NpgsqlParameter("app", NpgsqlDbType.Text) { Value = applicationName });
            command.Parameters.Add(new NpgsqlParameter("user", NpgsqlDbType.Text) { Value = user });
            command.Parameters.Add(new NpgsqlParameter("db", NpgsqlDbType.Text) { Value = database });
            counts.Add((int)(await command.ExecuteScalarAsync())!);
        }

        return Format(counts);
    }

    /// <summary>Ends a client's backend from the server side, as an operator (or a crash of that backend) would.</summary>
    internal static async Task TerminateBackendAsync(Cluster cluster, string host, int processId)
    {
        var node = cluster.Nodes.Single(n => n.Host == host);
        await using var connection = new NpgsqlConnection(
            new NpgsqlConnectionStringBuilder(cluster.AdminConnectionString(node.Index)) { Pooling = false, ApplicationName = "bm-dev-ctl" }.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT pg_catalog.pg_terminate_backend(@pid)", connection);
        command.Parameters.Add(new NpgsqlParameter("pid", NpgsqlDbType.Integer) { Value = processId });
        Assert.True((bool)(await command.ExecuteScalarAsync())!, $"pg_terminate_backend({processId}) on {host} found no such backend");
    }

    internal static async Task DisposeAllAsync(IEnumerable<NpgsqlConnection> connections)
    {
        foreach (var connection in connections)
            await connection.DisposeAsync();
    }
}

/// <summary>Connections a test holds: disposed at the end of the test even when an assertion fails, so nothing leaks into later tests.</summary>
sealed class ConnectionSet : List<NpgsqlConnection>, IAsyncDisposable
{
    public async ValueTask DisposeAsync()
    {
        foreach (var connection in this)
            await connection.DisposeAsync();
    }
}
