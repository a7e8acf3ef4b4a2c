using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Perfolizer.Horology;

namespace BrightDb.Benchmarks;

/// <summary>
/// Benchmarks run in-process: no generated project is built (that build would write into the source tree's obj
/// folders), and a run of the whole suite fits in minutes.
/// </summary>
public sealed class CpuConfig : ManualConfig
{
    public CpuConfig()
    {
        AddJob(Job.Default
            .WithToolchain(InProcessEmitToolchain.Instance)
            .WithWarmupCount(4)
            .WithIterationCount(12)
            .WithIterationTime(TimeInterval.FromMilliseconds(150))
            .WithId("Cpu"));
        AddDiagnoser(MemoryDiagnoser.Default);
        AddColumn(StatisticColumn.Median);
        SummaryStyle = SummaryStyle.Default.WithRatioStyle(RatioStyle.Trend);
    }
}

/// <summary>A ShortRun-like job for the benchmarks that talk to a local cluster.</summary>
public sealed class IoConfig : ManualConfig
{
    public IoConfig()
    {
        AddJob(Job.Default
            .WithToolchain(InProcessEmitToolchain.Instance)
            .WithLaunchCount(1)
            .WithWarmupCount(3)
            .WithIterationCount(5)
            .WithId("Io"));
        AddDiagnoser(MemoryDiagnoser.Default);
        AddColumn(StatisticColumn.Median);
        SummaryStyle = SummaryStyle.Default.WithRatioStyle(RatioStyle.Trend);
    }
}
