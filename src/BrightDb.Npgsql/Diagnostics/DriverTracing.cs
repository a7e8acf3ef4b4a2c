using System.Diagnostics;
using BrightDb.Npgsql.Balancing;
using BrightDb.Npgsql.Topology;

namespace BrightDb.Npgsql.Diagnostics;

/// <summary>
/// The driver's spans, on the <see cref="ActivitySource"/> <c>BrightDb.Npgsql</c> (add it with
/// <c>AddBrightDbInstrumentation()</c> on a <c>TracerProviderBuilder</c>; Npgsql's own spans are on the source <c>Npgsql</c>):
/// <list type="bullet">
/// <item><c>brightdb.discovery</c> / <c>brightdb.refresh</c>: one read of <c>yb_servers()</c> (the first, or a later one), tagged with the server asked and the servers found.</item>
/// <item><c>brightdb.failover</c>: a server given up by an open (failed, or passed over by Npgsql's failover), tagged with the server, its placement and why.</item>
/// <item><c>brightdb.hedge</c>: a server suspected of hanging and the race of the next best servers against it, tagged with the server, its placement and the server that won.</item>
/// </list>
/// Tags never carry a password: reasons are <see cref="FailureClassifier.Describe"/>'s. An open that finds its server at once
/// makes no span of the driver's (Npgsql's command spans follow). With no listener, each costs one check.
/// </summary>
static class DriverTracing
{
    internal const string SourceName = "BrightDb.Npgsql";

    internal static readonly ActivitySource Source = new(SourceName, typeof(DriverTracing).Assembly.GetName().Version?.ToString(3));

    /// <summary>Starts the span of one read of <c>yb_servers()</c>; <see langword="null"/> when nobody listens.</summary>
    internal static Activity? StartRefresh(string dataSourceName, bool first)
    {
        var activity = Source.StartActivity(first ? "brightdb.discovery" : "brightdb.refresh", ActivityKind.Internal);
        activity?.SetTag("brightdb.data_source", dataSourceName);
        return activity;
    }

    /// <summary>The server that answered <c>yb_servers()</c>, on the refresh span in progress.</summary>
    internal static void Asked(ServerEndpoint server)
    {
        if (Activity.Current is { } activity && activity.Source == Source)
            SetServer(activity, server);
    }

    /// <summary>Ends a refresh span with what it found.</summary>
    internal static void Refreshed(Activity? activity, ClusterTopology topology) =>
        activity?.SetTag("brightdb.servers", topology.Servers.Count);

    /// <summary>Marks a span failed, with the failure described (never a password).</summary>
    internal static void Failed(Activity? activity, Exception error) =>
        activity?.SetStatus(ActivityStatusCode.Error, FailureClassifier.Describe(error));

    /// <summary>A span, ended at once, for a server an open gave up.</summary>
    internal static void FailedOver(string dataSourceName, ServerEndpoint server, string reason)
    {
        if (!Source.HasListeners())
            return;
        using var activity = Source.StartActivity("brightdb.failover", ActivityKind.Internal);
        if (activity is null)
            return;
        activity.SetTag("brightdb.data_source", dataSourceName);
        SetServer(activity, server);
        activity.SetTag("brightdb.failover.reason", reason);
    }

    /// <summary>Starts the span of a hedge against <paramref name="suspected"/>; <see langword="null"/> when nobody listens.</summary>
    internal static Activity? StartHedge(string dataSourceName, ServerEndpoint suspected)
    {
        var activity = Source.StartActivity("brightdb.hedge", ActivityKind.Internal);
        if (activity is null)
            return null;
        activity.SetTag("brightdb.data_source", dataSourceName);
        SetServer(activity, suspected);
        return activity;
    }

    /// <summary>Ends a hedge span with the server whose connection the open got, if any.</summary>
    internal static void HedgeEnded(Activity? activity, global::Npgsql.NpgsqlConnection? winner)
    {
        if (activity is null)
            return;
        if (winner is null)
            activity.SetStatus(ActivityStatusCode.Error, "no server answered within the open's Timeout");
        else
            activity.SetTag("brightdb.hedge.winner", $"{winner.Host}:{winner.Port}");
    }

    static void SetServer(Activity activity, ServerEndpoint server)
    {
        activity.SetTag("server.address", server.Address.Host);
        activity.SetTag("server.port", server.Address.Port);
        if (server.Info is { } info)
            activity.SetTag("brightdb.placement", info.Placement);
    }
}
