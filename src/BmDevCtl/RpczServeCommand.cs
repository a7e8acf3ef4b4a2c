using System.CommandLine;
using System.Runtime.InteropServices;
using BrightDb.LocalCluster;

namespace BmDevCtl;

/// <summary>
/// The hidden <c>rpcz-serve</c> command: the detached process that serves every node's rpcz page for a CLI cluster and, for
/// a cluster created with <c>--fault_proxy</c>, every node's fault proxy. It follows the state file (nodes added, removed,
/// stopped or started, faults set) every second and at once when asked on the proxies' control channel, and exits when the
/// cluster is destroyed or on SIGTERM.
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
            await using var proxies = new FaultProxyServer();
            using var syncing = new SemaphoreSlim(1, 1);
            // Proxies first: once rpcz answers (what create waits for), the proxies listen too.
            async Task<bool> SyncAsync(CancellationToken token)
            {
                await syncing.WaitAsync(token);
                try
                {
                    await using var cluster = LocalCluster.TryAttach(directory);
                    if (cluster is null)
                    {
                        return false;
                    }

                    proxies.Sync(cluster.Nodes);
                    server.Sync(cluster.Nodes);
                    return true;
                }
                finally
                {
                    syncing.Release();
                }
            }

            bool proxied;
            await using (var created = LocalCluster.TryAttach(directory))
            {
                proxied = created is { FaultProxy: true };
            }

            await using var control = proxied ? FaultProxyControl.Listen(directory, SyncAsync) : null;
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    if (!await SyncAsync(stop.Token))
                    {
                        break;
                    }
                }
                catch (OperationCanceledException)
                {
                    break;
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
