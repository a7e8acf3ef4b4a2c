using System.Globalization;
using BrightDb.LocalCluster.Internal;

namespace BrightDb.LocalCluster;

/// <summary>
/// The rpcz server that runs as a process of its own for a cluster that outlives its creator (the CLI's): where it records
/// its pid and writes its log, whether it runs, and how a destroy ends it.
/// </summary>
public static class DetachedRpcz
{
    const string LogFileName = "rpcz.log";

    /// <summary>The log the detached rpcz server writes in a cluster's base directory.</summary>
    /// <param name="baseDirectory">The cluster's base directory.</param>
    /// <returns>The path of <c>rpcz.log</c>.</returns>
    public static string LogFile(string baseDirectory) => Path.Combine(baseDirectory, LogFileName);

    /// <summary>The last lines of the detached rpcz server's log, to put in an error message.</summary>
    /// <param name="baseDirectory">The cluster's base directory.</param>
    /// <returns>The tail of the log, or a note that there is none.</returns>
    public static string ReadLogTail(string baseDirectory) => LogTail.Read(LogFile(baseDirectory));

    /// <summary>Records the calling process as the cluster's rpcz server, so that destroy can end it.</summary>
    /// <param name="baseDirectory">The cluster's base directory.</param>
    public static void RecordCurrentProcess(string baseDirectory) =>
        File.WriteAllText(Path.Combine(baseDirectory, ClusterStore.RpczPidFileName), Environment.ProcessId.ToString(CultureInfo.InvariantCulture));

    /// <summary>The pid of the cluster's running rpcz server, or null when none runs (a recycled pid is not taken for it).</summary>
    /// <param name="baseDirectory">The cluster's base directory.</param>
    /// <returns>The pid, or <see langword="null"/>.</returns>
    public static int? RunningPid(string baseDirectory)
    {
        var path = Path.Combine(baseDirectory, ClusterStore.RpczPidFileName);
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

    /// <summary>Ends the cluster's rpcz server: SIGTERM, then SIGKILL when it lingers.</summary>
    internal static async Task StopAsync(string baseDirectory)
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

            await Task.Delay(20).ConfigureAwait(false);
        }
    }
}
