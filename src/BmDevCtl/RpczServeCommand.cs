using System.CommandLine;
using System.Runtime.InteropServices;
using BrightDb.LocalCluster;

namespace BmDevCtl;

/// <summary>
/// The hidden <c>rpcz-serve</c> command: the detached process that serves every node's rpcz page for a CLI cluster. It
/// follows the state file (nodes added or removed) and exits when the cluster is destroyed or on SIGTERM.
/// </summary>
static class RpczServeCommand
{
    public const string Name = "rpcz-serve";

    public static Command Build(Option<string?> baseDir)
    {
        var command = new Command(Name, "Serve rpcz pages for a cluster (started by create).") { Hidden = true };
        command.SetAction(async (parse, ct) =>
        {
            var directory = CliContext.ResolveBaseDirectory(parse.GetValue(baseDir));
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c =>
            {
                c.Cancel = true;
                stop.Cancel();
            });
            DetachedRpcz.RecordCurrentProcess(directory);
            await using var server = new RpczServer();
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    var cluster = LocalCluster.TryAttach(directory);
                    if (cluster is null)
                    {
                        break;
                    }

                    server.Sync(cluster.Nodes);
                }
                catch (Exception ex) when (ex is LocalClusterException or IOException)
                {
                    // The state file is being replaced, or a port is briefly taken: try again on the next tick.
                    await Console.Error.WriteLineAsync($"{DateTime.UtcNow:O} rpcz: {ex.Message}");
                }

                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), stop.Token);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }

            return ExitCodes.Success;
        });
        return command;
    }
}
