using System.CommandLine;
using System.Net;
using BrightDb.LocalCluster;
using BrightDb.LocalCluster.Dashboard;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Spectre.Console;

namespace BmDevCtl;

/// <summary>
/// <c>bm-dev-ctl dashboard</c>: serves the cluster's live dashboard on 127.0.0.1 with ASP.NET Core minimal APIs until Ctrl-C:
/// <c>GET /</c> the page (<see cref="DashboardPage"/>), <c>GET /api/cluster</c> the last sample (<see cref="ClusterMonitor"/>,
/// which reads the cluster's state file on every sample, so nodes added, stopped, killed or paused show within a second).
/// </summary>
static class DashboardCommand
{
    public const int DefaultPort = 8200;

    public static Command Build(CliContext context, Option<string?> baseDir)
    {
        var port = new Option<int>("--port")
        {
            Description = $"The port on 127.0.0.1 (default {DefaultPort}; 0 picks a free one, printed).",
            DefaultValueFactory = _ => DefaultPort,
        };
        var command = new Command("dashboard",
            "Serve a live dashboard of the cluster on 127.0.0.1 until Ctrl-C: a card per node with its state, its client connections " +
            "(by application name) and their last five minutes. Every node's rpcz server shows the same page at /. Example: " +
            "bm-dev-ctl dashboard --port 8200, then open http://127.0.0.1:8200/")
        {
            port,
        };
        command.SetAction(async (parse, ct) =>
        {
            var portValue = parse.GetValue(port);
            if (portValue is < 0 or > 65535)
            {
                throw new UsageException($"--port {portValue} is not a TCP port.");
            }

            var directory = CliContext.ResolveBaseDirectory(parse.GetValue(baseDir));
            // No cluster: say how to create one.
            await CliContext.Attach(directory).DisposeAsync();

            await using var monitor = new ClusterMonitor(_ =>
            {
                using var cluster = LocalCluster.TryAttach(directory);
                return ValueTask.FromResult<IReadOnlyList<LocalNode>?>(cluster?.Nodes);
            });
            await monitor.SampleAsync(ct);
            monitor.Start();

            var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
            builder.WebHost.UseKestrelCore().ConfigureKestrel(k => k.Listen(IPAddress.Loopback, portValue));
            builder.Services.AddRoutingCore();
            await using var app = builder.Build();
            app.MapGet("/", () => Results.Content(DashboardPage.Html, "text/html; charset=utf-8"));
            app.MapGet("/api/cluster", () => Results.Content(DashboardJson.Serialize(monitor.View), "application/json; charset=utf-8"));
            try
            {
                await app.StartAsync(ct);
            }
            catch (IOException ex)
            {
                throw new CommandFailedException($"Cannot serve the dashboard on 127.0.0.1:{portValue}: {ex.Message} Choose another port with --port (0 picks a free one).");
            }

            var address = app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()
                          ?? $"http://127.0.0.1:{portValue}";
            context.Console.MarkupLine($"Dashboard of the cluster in {Markup.Escape(directory)}: [link]{Markup.Escape(address.TrimEnd('/'))}/[/] (Ctrl-C to stop)");
            try
            {
                await Task.Delay(Timeout.Infinite, ct);
            }
            catch (OperationCanceledException)
            {
                // Ctrl-C: stop serving.
            }

            await app.StopAsync(CancellationToken.None);
            return ExitCodes.Success;
        });
        return command;
    }
}
