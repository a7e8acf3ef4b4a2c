using System.CommandLine;
using System.Globalization;
using BrightDb.LocalCluster;
using Spectre.Console;

namespace BmDevCtl;

/// <summary>
/// <c>fault &lt;node_index&gt; &lt;kind&gt; [value] [--direction up|down|both]</c>: sets or clears the fault a node's proxy
/// injects, on a cluster created with <c>--fault_proxy</c>. The detached helper process applies it before the command returns.
/// </summary>
static class FaultCommand
{
    /// <summary>The kinds, whether they take a value, and what the value is.</summary>
    static readonly (string Kind, string? Value)[] Kinds =
    [
        ("latency", "milliseconds"),
        ("bandwidth", "bytes per second"),
        ("hang", null),
        ("stall", null),
        ("reset", "bytes"),
        ("refuse", null),
        ("clear", null),
    ];

    public static Command Build(CliContext context, Option<string?> baseDir)
    {
        var index = new Argument<int>("node_index") { Description = "The node's index (1 for the first node)." };
        var kind = new Argument<string>("kind")
        {
            Description = "latency <ms>: delay data (per direction); bandwidth <bytes_per_s>: limit each direction; hang: accept new " +
                          "connections, never answer; stall: stop forwarding server to client; reset <bytes>: RST a connection after " +
                          "that many bytes; refuse: refuse new connections; clear: no fault.",
        };
        kind.AcceptOnlyFromAmong([.. Kinds.Select(k => k.Kind)]);
        var value = new Argument<long?>("value") { Description = "The kind's number (latency, bandwidth, reset).", Arity = ArgumentArity.ZeroOrOne };
        var direction = new Option<string>("--direction")
        {
            Description = "For latency: up (client to server), down (server to client) or both.",
            DefaultValueFactory = _ => "both",
        };
        direction.AcceptOnlyFromAmong("up", "down", "both");
        var command = new Command("fault", "Inject a network fault at a node's proxy (cluster created with --fault_proxy), or clear it. Example: bm-dev-ctl fault 2 latency 200, then bm-dev-ctl fault 2 clear")
        {
            index, kind, value, direction,
        };
        command.SetAction(async (parse, ct) =>
        {
            var i = parse.GetValue(index);
            var name = parse.GetValue(kind)!;
            var fault = Parse(name, parse.GetValue(value), parse.GetValue(direction)!, parse.GetResult(direction) is { Implicit: false });
            await using var cluster = CliContext.Attach(CliContext.ResolveBaseDirectory(parse.GetValue(baseDir)));
            var node = CliContext.ExistingNode(cluster, i);
            await cluster.SetFaultAsync(i, fault, ct);
            context.Console.WriteLine(fault == NodeFault.None
                ? $"Node {i} ({node.Address}): fault cleared."
                : $"Node {i} ({node.Address}): {fault}.");
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>The fault a command line names; a missing, superfluous or out-of-range value is a usage error.</summary>
    internal static NodeFault Parse(string kind, long? value, string direction, bool directionGiven)
    {
        var unit = Kinds.First(k => k.Kind == kind).Value;
        if (unit is not null && value is null)
        {
            throw new UsageException($"fault {kind} needs a value ({unit}).");
        }

        if (unit is null && value is not null)
        {
            throw new UsageException($"fault {kind} takes no value.");
        }

        if (directionGiven && kind != "latency")
        {
            throw new UsageException("--direction applies to latency only.");
        }

        var number = value ?? 0;
        if (number < (kind == "bandwidth" ? 1 : 0))
        {
            throw new UsageException($"fault {kind} {number.ToString(CultureInfo.InvariantCulture)}: the value must be {(kind == "bandwidth" ? "at least 1" : "0 or more")}.");
        }

        return kind switch
        {
            "latency" => NodeFault.Latency(TimeSpan.FromMilliseconds(number), direction switch
            {
                "up" => FaultDirection.Up,
                "down" => FaultDirection.Down,
                _ => FaultDirection.Both,
            }),
            "bandwidth" => NodeFault.Bandwidth(number),
            "reset" => NodeFault.ResetAfter(number),
            "hang" => NodeFault.Hang,
            "stall" => NodeFault.Stall,
            "refuse" => NodeFault.Refuse,
            _ => NodeFault.None,
        };
    }
}
