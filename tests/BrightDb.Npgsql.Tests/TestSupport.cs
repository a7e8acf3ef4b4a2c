using BrightDb.Npgsql.Balancing;
using BrightDb.Npgsql.ConnectionStrings;

namespace BrightDb.Npgsql.Tests;

static class TestSupport
{
    internal const string A = "aws.us-west.us-west-2a";
    internal const string B = "aws.us-west.us-west-2b";
    internal const string C = "aws.us-west.us-west-2c";

    /// <summary>Expands the short zone names of the topology-key table ("2a") to full placements.</summary>
    internal static string ExpandKeys(string keys) => string.Join(',', keys.Split(',').Select(k =>
        k.StartsWith("2", StringComparison.Ordinal) ? "aws.us-west.us-west-" + k : k));

    internal static ServerEndpoint Endpoint(
        string host, ServerNodeType type = ServerNodeType.Primary, string? placement = null, int port = 2521, TimeProvider? time = null)
    {
        var e = new ServerEndpoint(new HostAndPort(host, port), _ => throw new InvalidOperationException("no data source in unit tests"), time: time);
        string? cloud = null, region = null, zone = null;
        if (placement is not null)
        {
            var p = placement.Split('.');
            (cloud, region, zone) = (p[0], p[1], p[2]);
        }

        e.Info = new ServerInfo(host, port, type, cloud, region, zone, null, null);
        return e;
    }

    internal static IReadOnlyList<TopologyKey> Keys(string? value) =>
        string.IsNullOrEmpty(value) ? [] : TopologyKey.ParseList(value, Keywords.TopologyKeys);

    internal static IEnumerable<string> Messages(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
        {
            yield return x.Message;
            if (x is AggregateException agg)
            {
                foreach (var inner in agg.InnerExceptions)
                {
                    foreach (var m in Messages(inner))
                        yield return m;
                }
            }
        }
    }

    internal static BrightDbSettings Settings(string connectionString) =>
        BrightDbSettings.From(new BrightDbConnectionStringBuilder(connectionString));
}
