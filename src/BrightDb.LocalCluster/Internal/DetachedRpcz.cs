using System.Globalization;

namespace BrightDb.LocalCluster.Internal;

/// <summary>The rpcz server the CLI runs as a detached process; it writes its pid into the cluster's base directory.</summary>
internal static class DetachedRpcz
{
    public static void RecordCurrentProcess(string baseDirectory) =>
        File.WriteAllText(Path.Combine(baseDirectory, ClusterFiles.RpczPidFileName), Environment.ProcessId.ToString(CultureInfo.InvariantCulture));

    public static int? RunningPid(string baseDirectory)
    {
        var path = Path.Combine(baseDirectory, ClusterFiles.RpczPidFileName);
        if (!File.Exists(path) || !int.TryParse(File.ReadAllText(path).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
        {
            return null;
        }

        // A recycled pid must not be signalled: check it is still an rpcz server.
        try
        {
            var commandLine = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/cmdline");
            return ProcessTable.IsAlive(pid) && commandLine.Contains("rpcz-serve", StringComparison.Ordinal) ? pid : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    public static async Task StopAsync(string baseDirectory)
    {
        if (RunningPid(baseDirectory) is not { } pid)
        {
            return;
        }

        Native.Signal(pid, Native.SIGTERM);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        while (ProcessTable.IsAlive(pid))
        {
            if (DateTime.UtcNow > deadline)
            {
                Native.Signal(pid, Native.SIGKILL);
            }

            await Task.Delay(20);
        }
    }
}
