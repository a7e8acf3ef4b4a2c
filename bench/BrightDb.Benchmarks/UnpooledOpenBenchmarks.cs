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
    BrightDbDataSource _brightDbOneNode = null!;
    BrightDbDataSource _brightDbNoHedge = null!;

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
        _brightDbOneNode = BrightDbDataSource.Create(Clusters.BrightDb(_cluster, "bench-brightdb-one",
            "Pooling=false;Topology Keys=aws.us-west.us-west-2a;Fallback To Topology Keys Only=true;" + GssKeyword));
        _brightDbNoHedge = BrightDbDataSource.Create(Clusters.BrightDb(_cluster, "bench-brightdb-nohedge", "Pooling=false;Hedged Open Delay=0;" + GssKeyword));
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _brightDb.Dispose();
        _brightDbOneNode.Dispose();
        _brightDbNoHedge.Dispose();
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

    /// <summary>
    /// This driver's whole open path (discovery done, selection, per-server pool, counting) on the baseline's server only
    /// (a topology key matching node 1 alone): the driver's own cost, without the difference between servers.
    /// </summary>
    [Benchmark]
    public async Task BrightDbOneNode()
    {
        var connection = await _brightDbOneNode.OpenConnectionAsync();
        await connection.DisposeAsync();
    }

    /// <summary>This driver with hedging off (<c>Hedged Open Delay=0</c>): what the hedge's timer and bookkeeping cost a physical open.</summary>
    [Benchmark]
    public async Task BrightDbNoHedge()
    {
        var connection = await _brightDbNoHedge.OpenConnectionAsync();
        await connection.DisposeAsync();
    }
}
