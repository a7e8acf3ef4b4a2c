using BenchmarkDotNet.Attributes;
using BrightDb.Npgsql;
using Npgsql;
using Cluster = BrightDb.LocalCluster.LocalCluster;

namespace BrightDb.Benchmarks;

/// <summary>Unpooled (<c>Pooling=false</c>) open + close: a new physical connection (TCP, startup, SCRAM) every time.</summary>
[Config(typeof(IoConfig))]
[MemoryDiagnoser]
public class UnpooledOpenBenchmarks
{
    Cluster _cluster = null!;
    NpgsqlDataSource _plain = null!;
    NpgsqlDataSource _multiHost = null!;
    BrightDbDataSource _brightDb = null!;

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
        _plain = NpgsqlDataSource.Create(Clusters.Npgsql(_cluster, [_cluster.Nodes[0]], "bench-plain", "Pooling=false;" + GssKeyword));
        _multiHost = NpgsqlDataSource.Create(Clusters.Npgsql(_cluster, _cluster.Nodes, "bench-multihost", "Pooling=false;Load Balance Hosts=true;" + GssKeyword));
        _brightDb = BrightDbDataSource.Create(Clusters.BrightDb(_cluster, "bench-brightdb", "Pooling=false;" + GssKeyword));
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _brightDb.Dispose();
        _multiHost.Dispose();
        _plain.Dispose();
        _cluster.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    [Benchmark(Baseline = true)]
    public async Task PlainOneHost()
    {
        var connection = await _plain.OpenConnectionAsync();
        await connection.DisposeAsync();
    }

    [Benchmark]
    public async Task NpgsqlMultiHost()
    {
        var connection = await _multiHost.OpenConnectionAsync();
        await connection.DisposeAsync();
    }

    [Benchmark]
    public async Task BrightDbBalanced()
    {
        var connection = await _brightDb.OpenConnectionAsync();
        await connection.DisposeAsync();
    }
}
