using System.Diagnostics;
using System.Net.Sockets;
using BrightDb.LocalCluster;

namespace BmDevCtl;

/// <summary>Starts <c>bm-dev-ctl rpcz-serve</c> detached (own session, output to a log) so it outlives the CLI.</summary>
static class RpczLauncher
{
    public static async Task StartAsync(LocalCluster cluster, CancellationToken ct)
    {
        var log = DetachedRpcz.LogFile(cluster.BaseDirectory);
        var startInfo = new ProcessStartInfo("/bin/sh")
        {
            UseShellExecute = false,
            WorkingDirectory = "/",
        };
        // setsid: a new session, so closing the terminal or the CLI's process group does not take it down.
        startInfo.ArgumentList.Add("-c");
        startInfo.ArgumentList.Add(File.Exists("/usr/bin/setsid") || File.Exists("/bin/setsid")
            ? "setsid \"$@\" </dev/null >>\"$BM_RPCZ_LOG\" 2>&1 &"
            : "nohup \"$@\" </dev/null >>\"$BM_RPCZ_LOG\" 2>&1 &");
        startInfo.ArgumentList.Add("sh");
        foreach (var part in SelfCommand())
        {
            startInfo.ArgumentList.Add(part);
        }

        startInfo.ArgumentList.Add(RpczServeCommand.Name);
        startInfo.ArgumentList.Add("--base_dir");
        startInfo.ArgumentList.Add(cluster.BaseDirectory);
        startInfo.Environment["BM_RPCZ_LOG"] = log;
        using (var shell = Process.Start(startInfo) ?? throw new CommandFailedException("Could not start the rpcz server."))
        {
            await shell.WaitForExitAsync(ct);
        }

        var first = cluster.Nodes.First(n => n.State != NodeState.Removed);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!await AcceptsAsync(first.Host, first.RpczPort, ct))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new CommandFailedException($"The rpcz server did not come up on {first.Host}:{first.RpczPort}. {DetachedRpcz.ReadLogTail(cluster.BaseDirectory)}");
            }

            await Task.Delay(100, ct);
        }
    }

    /// <summary>How to run this CLI again: its apphost when present, otherwise <c>dotnet bm-dev-ctl.dll</c>.</summary>
    static IReadOnlyList<string> SelfCommand()
    {
        var dll = typeof(RpczLauncher).Assembly.Location;
        var apphost = Path.Combine(Path.GetDirectoryName(dll)!, "bm-dev-ctl");
        if (File.Exists(apphost))
        {
            return [apphost];
        }

        var process = Environment.ProcessPath ?? "dotnet";
        return Path.GetFileNameWithoutExtension(process) == "dotnet" ? [process, dll] : ["dotnet", dll];
    }

    static async Task<bool> AcceptsAsync(string host, int port, CancellationToken ct)
    {
        using var client = new TcpClient();
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(1));
            await client.ConnectAsync(host, port, timeout.Token);
            return true;
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException && !ct.IsCancellationRequested)
        {
            return false;
        }
    }
}
