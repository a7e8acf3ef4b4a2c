using BenchmarkDotNet.Running;
using BrightDb.Benchmarks;

// dotnet run -c Release --project bench/BrightDb.Benchmarks -- --filter '*'      BenchmarkDotNet tables
// dotnet run -c Release --project bench/BrightDb.Benchmarks -- balance           balance quality harness
// dotnet run -c Release --project bench/BrightDb.Benchmarks -- failover          failover timings harness
// dotnet run -c Release --project bench/BrightDb.Benchmarks -- soak              long open / SELECT 1 / close run under faults
// dotnet run -c Release --project bench/BrightDb.Benchmarks -- curves            shares and connections over time, drawn into docs/
// dotnet run -c Release --project bench/BrightDb.Benchmarks -- open-loop         pooled open + close in a loop, a process to profile
return args.FirstOrDefault() switch
{
    "balance" => await BalanceHarness.RunAsync(args[1..]),
    BalanceHarness.WorkerCommand => await BalanceHarness.WorkerAsync(args[1..]),
    "failover" => await FailoverHarness.RunAsync(args[1..]),
    "soak" => await SoakHarness.RunAsync(args[1..]),
    "curves" => await CurvesHarness.RunAsync(args[1..]),
    "open-loop" => await OpenLoopHarness.RunAsync(args[1..]),
    _ => RunBenchmarks(args),
};

static int RunBenchmarks(string[] args)
{
    var summaries = BenchmarkSwitcher.FromAssembly(typeof(SelectionBenchmarks).Assembly).Run(args);
    return summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success)) ? 1 : 0;
}
