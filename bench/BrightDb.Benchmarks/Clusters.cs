using BrightDb.LocalCluster;
using Cluster = BrightDb.LocalCluster.LocalCluster;

namespace BrightDb.Benchmarks;

/// <summary>The three-zone local cluster the I/O benchmarks and harnesses run against, and connection strings to it.</summary>
static class Clusters
{
    internal static readonly string[] Placements = ["aws.us-west.us-west-2a", "aws.us-west.us-west-2b", "aws.us-west.us-west-2c"];

    internal static Task<Cluster> StartAsync() => Cluster.StartAsync(Placements);

    /// <summary>An Npgsql connection string to the given nodes, as user bigmath.</summary>
    internal static string Npgsql(Cluster cluster, IEnumerable<LocalNode> nodes, string applicationName, string extra = "")
    {
        var list = nodes.ToList();
        return $"Host={string.Join(",", list.Select(n => n.Host))};Port={list[0].Port};Database=bigmath;Username=bigmath;" +
               $"Password={cluster.Password};Application Name={applicationName};{extra}";
    }

    /// <summary>A connection string of this driver listing only the first node, balancing over what <c>yb_servers()</c> reports.</summary>
    internal static string BrightDb(Cluster cluster, string applicationName, string extra = "") =>
        Npgsql(cluster, [cluster.Nodes[0]], applicationName, "Load Balance Hosts=true;" + extra);
}
