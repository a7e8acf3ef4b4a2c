using BenchmarkDotNet.Attributes;
using BrightDb.Npgsql;
using BrightDb.Npgsql.Balancing;
using BrightDb.Npgsql.ConnectionStrings;

namespace BrightDb.Benchmarks;

/// <summary>
/// Choosing a server alone, no I/O: <see cref="ServerSelector.SelectAndReserve"/> followed by
/// <see cref="ServerEndpoint.Release"/>, the count left at zero so every choice is a tie broken at random (the
/// selector's most expensive case among servers that are up). Each invocation runs <see cref="OpsPerInvoke"/> pairs,
/// split over <see cref="Threads"/> threads; the reported time is per pair.
/// </summary>
[Config(typeof(CpuConfig))]
[MemoryDiagnoser]
public class SelectionBenchmarks
{
    internal const int OpsPerInvoke = 16_384;

    static readonly string[] Zones = ["us-west-2a", "us-west-2b", "us-west-2c"];

    SelectionPlan _plan = null!;
    long _probeWindow;
    WorkerGang? _gang;
    Action<int> _select = null!;
    Action<int> _interlocked = null!;
    // The counter sits in the middle of its own 128-byte array: alone on its cache line.
    readonly int[] _counter = new int[32];

    [Params(3, 16, 100, 1000)]
    public int Servers { get; set; }

    /// <summary>With <c>Topology Keys=aws.us-west.us-west-2a:1,aws.us-west.us-west-2b:2</c>; servers are spread over three zones.</summary>
    [Params(false, true)]
    public bool TopologyKeys { get; set; }

    [Params(1, 4, 16)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var endpoints = new List<ServerEndpoint>(Servers);
        for (var i = 0; i < Servers; i++)
        {
            var host = $"10.{i / 65536 % 256}.{i / 256 % 256}.{i % 256 + 1}";
            endpoints.Add(new ServerEndpoint(new HostAndPort(host, 2521), _ => throw new InvalidOperationException("no I/O in this benchmark"))
            {
                Info = new ServerInfo(host, 2521, ServerNodeType.Primary, "aws", "us-west", Zones[i % Zones.Length], null, null),
            });
        }

        IReadOnlyList<TopologyKey> keys = TopologyKeys
            ? [new TopologyKey("aws", "us-west", "us-west-2a", 1), new TopologyKey("aws", "us-west", "us-west-2b", 2)]
            : [];
        _plan = SelectionPlan.Build(endpoints, LoadBalanceMode.Any, keys, topologyKeysOnly: false);
        _probeWindow = 5 * TimeProvider.System.TimestampFrequency;
        _select = SelectLoop;
        _interlocked = InterlockedLoop;
        if (Threads > 1)
            _gang = new WorkerGang(Threads);

        // A wrong plan would make the numbers meaningless: check it chooses from the expected group.
        var chosen = ServerSelector.SelectAndReserve(_plan, TimeProvider.System, _probeWindow, null, out _)
                     ?? throw new InvalidOperationException("the selector chose nothing");
        chosen.Release();
        if (TopologyKeys && chosen.Info!.Zone != "us-west-2a")
            throw new InvalidOperationException($"the selector chose {chosen} outside the preferred zone");
    }

    [GlobalCleanup]
    public void Cleanup() => _gang?.Dispose();

    /// <summary>One uncontended (at 1 thread) atomic increment and decrement of a shared counter: the physical floor.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = OpsPerInvoke)]
    public void InterlockedPair() => Run(_interlocked);

    [Benchmark(OperationsPerInvoke = OpsPerInvoke)]
    public void SelectAndRelease() => Run(_select);

    void Run(Action<int> work)
    {
        if (_gang is null)
            work(OpsPerInvoke);
        else
            _gang.Run(work, OpsPerInvoke / Threads);
    }

    void SelectLoop(int count)
    {
        var plan = _plan;
        var time = TimeProvider.System;
        var window = _probeWindow;
        for (var i = 0; i < count; i++)
        {
            var chosen = ServerSelector.SelectAndReserve(plan, time, window, null, out _);
            chosen!.Release();
        }
    }

    void InterlockedLoop(int count)
    {
        ref var counter = ref _counter[16];
        for (var i = 0; i < count; i++)
        {
            Interlocked.Increment(ref counter);
            Interlocked.Decrement(ref counter);
        }
    }
}
