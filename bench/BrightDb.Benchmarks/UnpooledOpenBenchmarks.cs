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

    [GlobalSetup]
    public void Setup()
    {
        _cluster = Clusters.StartAsync().GetAwaiter().GetResult();
        _plain = NpgsqlDataSource.Create(Clusters.Npgsql(_cluster, [_cluster.Nodes[0]], "bench-plain", "Pooling=false"));
        _multiHost = NpgsqlDataSource.Create(Clusters.Npgsql(_cluster, _cluster.Nodes, "bench-multihost", "Pooling=false;Load Balance Hosts=true"));
        _brightDb = BrightDbDataSource.Create(Clusters.BrightDb(_cluster, "bench-brightdb", "Pooling=false"));
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
