using System.Diagnostics;
using System.Globalization;

namespace BrightDb.Npgsql.IntegrationTests.Support;

/// <summary>
/// Real OS processes for the balance tests: each runs the balance benchmark's <c>balance-worker</c>
/// (<c>bench/BrightDb.Benchmarks</c>), which per trial creates a new data source and says <c>ready</c>, opens its connections on
/// <c>go</c> and says <c>open</c>, and closes them on the next line.
/// </summary>
static class BalanceWorkers
{
    /// <summary>The benchmark assembly built in the same configuration as this one (the solution build builds it).</summary>
    internal static string Assembly()
    {
        var output = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var root = output;
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "BrightDb.slnx")))
            root = root.Parent;
        Assert.True(root is not null, $"no BrightDb.slnx above {output.FullName}");
        var path = Path.Combine(root.FullName, "bench", "BrightDb.Benchmarks", "bin", output.Parent!.Name, output.Name, "BrightDb.Benchmarks.dll");
        Assert.True(File.Exists(path), $"{path} not found: build the solution (bench/BrightDb.Benchmarks) first");
        return path;
    }

    internal static Process Start(string assembly, string connectionString, int trials)
    {
        var info = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(assembly);
        info.ArgumentList.Add("balance-worker");
        info.ArgumentList.Add("--connection-string");
        info.ArgumentList.Add(connectionString);
        info.ArgumentList.Add("--count");
        info.ArgumentList.Add("1");
        info.ArgumentList.Add("--trials");
        info.ArgumentList.Add(trials.ToString(CultureInfo.InvariantCulture));
        return Process.Start(info) ?? throw new InvalidOperationException("could not start a worker");
    }

    internal static async Task ExpectAsync(Process worker, string expected, int trial)
    {
        var line = await worker.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
        if (line == expected)
            return;
        // The output ended: the worker exited (it writes why on its standard error).
        var exited = false;
        if (line is null)
        {
            try
            {
                await worker.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
                exited = true;
            }
            catch (TimeoutException)
            {
            }
        }

        Assert.Fail($"trial {trial}: a worker said {(line is null ? "nothing (its output ended)" : $"'{line}'")} instead of '{expected}'"
                    + (exited ? $"; it exited with {worker.ExitCode}: {await worker.StandardError.ReadToEndAsync()}" : ""));
    }

    /// <summary>Waits for every worker to end (they end after their last trial) and requires a clean exit of each.</summary>
    internal static async Task ExpectCleanExitsAsync(IEnumerable<Process> processes)
    {
        foreach (var process in processes)
        {
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            Assert.True(process.ExitCode == 0, $"a worker exited with {process.ExitCode}: {await process.StandardError.ReadToEndAsync()}");
        }
    }

    /// <summary>Ends the workers still running (a test that failed midway) and releases them all.</summary>
    internal static void KillAndDispose(IEnumerable<Process> processes)
    {
        foreach (var process in processes)
        {
            if (!process.HasExited)
                process.Kill();
            process.Dispose();
        }
    }
}
