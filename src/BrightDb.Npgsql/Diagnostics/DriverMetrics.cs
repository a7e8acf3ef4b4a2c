using System.Diagnostics;
using System.Diagnostics.Metrics;
using BrightDb.Npgsql.Balancing;
using BrightDb.Npgsql.DataSource;

namespace BrightDb.Npgsql.Diagnostics;

/// <summary>
/// The driver's metrics, on the meter <c>BrightDb.Npgsql</c>, named after OpenTelemetry's database client conventions.
/// Instruments are process-wide (one meter, as Npgsql does); every measurement is tagged with its data source's name
/// (<c>db.client.connection.pool.name</c>) and its server (<c>server.address</c>, <c>server.port</c>, <c>brightdb.placement</c> as cloud.region.zone, and OpenTelemetry's
/// <c>cloud.region</c> and <c>cloud.availability_zone</c>).
/// When nothing listens, recording costs one branch.
/// </summary>
static class DriverMetrics
{
    internal const string MeterName = "BrightDb.Npgsql";
    internal const string ConnectionCountName = "brightdb.client.connection.count";
    internal const string OpensName = "brightdb.client.connection.opens";
    internal const string FailoversName = "brightdb.client.connection.failovers";
    internal const string HostsMarkedDownName = "brightdb.client.hosts_marked_down";
    internal const string ServersLostName = "brightdb.client.servers_lost";
    internal const string RefreshesName = "brightdb.client.topology.refreshes";
    internal const string RefreshDurationName = "brightdb.client.topology.refresh.duration";

    static readonly Meter Meter = new(MeterName, typeof(DriverMetrics).Assembly.GetName().Version?.ToString());

    static readonly Counter<long> Opens = Meter.CreateCounter<long>(OpensName, "{connection}", "Connections opened, per server.");
    static readonly Counter<long> Failovers = Meter.CreateCounter<long>(FailoversName, "{attempt}", "Opens that failed on a server and went on to another.");
    static readonly Counter<long> HostsMarkedDown = Meter.CreateCounter<long>(HostsMarkedDownName, "{server}", "Times a server was marked down.");
    static readonly Counter<long> ServersLost = Meter.CreateCounter<long>(ServersLostName, "{server}", "Times a server ended the driver's watch connection, which closed that server's idle connections.");
    static readonly Counter<long> Refreshes = Meter.CreateCounter<long>(RefreshesName, "{refresh}", "Reads of yb_servers(), by outcome.");
    static readonly Histogram<double> RefreshDuration = Meter.CreateHistogram<double>(RefreshDurationName, "s", "Duration of a read of yb_servers(), connection included.");

    static DriverMetrics()
    {
        Meter.CreateObservableUpDownCounter(ConnectionCountName, ObserveConnections, "{connection}",
            "Connections from this driver open on each server (in use, as counted by the balancer; opens in progress are not counted).");
    }

    static IEnumerable<Measurement<int>> ObserveConnections()
    {
        var measurements = new List<Measurement<int>>();
        foreach (var source in DataSourceRegistry.Live())
        {
            foreach (var endpoint in source.ActiveEndpoints())
                measurements.Add(new Measurement<int>(endpoint.OpenConnections, ServerTags(source.Name, endpoint)));
        }

        return measurements;
    }

    internal static void Opened(string dataSource, ServerEndpoint server)
    {
        if (Opens.Enabled)
            Opens.Add(1, ServerTags(dataSource, server));
    }

    internal static void FailedOver(string dataSource, ServerEndpoint server)
    {
        if (Failovers.Enabled)
            Failovers.Add(1, ServerTags(dataSource, server));
    }

    internal static void MarkedDown(string dataSource, ServerEndpoint server)
    {
        if (HostsMarkedDown.Enabled)
            HostsMarkedDown.Add(1, ServerTags(dataSource, server));
    }

    internal static void Lost(string dataSource, ServerEndpoint server)
    {
        if (ServersLost.Enabled)
            ServersLost.Add(1, ServerTags(dataSource, server));
    }

    internal static void Refreshed(string dataSource, bool success, TimeSpan duration)
    {
        var tags = new TagList { { "db.client.connection.pool.name", dataSource }, { "brightdb.outcome", success ? "success" : "failure" } };
        if (Refreshes.Enabled)
            Refreshes.Add(1, tags);
        if (RefreshDuration.Enabled)
            RefreshDuration.Record(duration.TotalSeconds, tags);
    }

    static TagList ServerTags(string dataSource, ServerEndpoint server) => new()
    {
        { "db.client.connection.pool.name", dataSource },
        { "server.address", server.HostMapKey },
        { "server.port", server.Address.Port },
        { "brightdb.placement", server.Info?.Placement },
        { "cloud.region", server.Info?.Region },
        { "cloud.availability_zone", server.Info?.Zone },
    };
}
