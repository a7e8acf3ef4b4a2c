using BenchmarkDotNet.Attributes;
using BrightDb.Npgsql;
using Npgsql;
using Cluster = BrightDb.LocalCluster.LocalCluster;

namespace BrightDb.Benchmarks;

/// <summary>
/// The first connection of a new data source: create the data source, open one connection, dispose both. For this
/// driver that includes discovery (a connection to the listed host and <c>yb_servers()</c>).
/// </summary>
[Config(typeof(IoConfig))]
[MemoryDiagnoser]
public class FirstConnectionBenchmarks
{
    Cluster _cluster = null!;
    string _plain = null!;
    string _brightDb = null!;

    /// <summary>
    /// Npgsql's default (<c>GSS Encryption Mode=Prefer</c>) or GSS disabled. With the default, about one physical open in
    /// tens stalled for 5 s on this machine whichever data source made it (Npgsql's GSS attempt; none with it disabled),
    /// which swamps the difference being measured.
    /// </summary>
    [Params("Default", "Disable")]
    public string Gss { get; set; } = "Default";

    string GssKeyword => Gss == "Disable" ? "GSS Encryption Mode=Disable" : "";

    [GlobalSetup]
    public void Setup()
    {
        _cluster = Clusters.StartAsync().GetAwaiter().GetResult();
        _plain = Clusters.Npgsql(_cluster, [_cluster.Nodes[0]], "bench-first-plain", GssKeyword);
        _brightDb = Clusters.BrightDb(_cluster, "bench-first-brightdb", GssKeyword);
    }

    [GlobalCleanup]
    public void Cleanup() => _cluster.DisposeAsync().AsTask().GetAwaiter().GetResult();

    [Benchmark(Baseline = true)]
    public async Task PlainFirstConnection()
    {
        await using var dataSource = NpgsqlDataSource.Create(_plain);
        await using var connection = await dataSource.OpenConnectionAsync();
    }

    [Benchmark]
    public async Task BrightDbFirstConnection()
    {
        await using var dataSource = BrightDbDataSource.Create(_brightDb);
        await using var connection = await dataSource.OpenConnectionAsync();
    }
}
