using System.Globalization;
using BrightDb.Npgsql.DataSource;

namespace BrightDb.Npgsql;

/// <summary>
/// psycopg2-brightdb's <c>ClusterAwareLoadBalancer().printHostToConnMap()</c>: the host → connection-count map summed over every
/// live <see cref="BrightDbDataSource"/> of the process. For one data source, use <see cref="BrightDbDataSource.GetHostToConnectionMap"/>.
/// </summary>
public static class ClusterAwareLoadBalancer
{
    /// <summary>Connections open per server host, over every live data source of the process.</summary>
    public static IReadOnlyDictionary<string, int> GetHostToConnMap()
    {
        var total = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var source in DataSourceRegistry.Live())
        {
            foreach (var (host, count) in source.GetHostToConnectionMap())
                total[host] = total.GetValueOrDefault(host) + count;
        }

        return total;
    }

    /// <summary>Writes one <c>host: count</c> line per host, sorted by host, to <paramref name="writer"/> (the console by default).</summary>
    public static void PrintHostToConnMap(TextWriter? writer = null)
    {
        writer ??= Console.Out;
        foreach (var (host, count) in GetHostToConnMap().OrderBy(p => p.Key, StringComparer.Ordinal))
            writer.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{host}: {count}"));
    }
}
