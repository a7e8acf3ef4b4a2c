using System.CommandLine;
using BrightDb.LocalCluster;
using Spectre.Console;

namespace BmDevCtl;

/// <summary>Commands acting on one node of the cluster.</summary>
static class NodeCommands
{
    /// <summary>The commands that take one node index and run one cluster operation on it, in the order <c>--help</c> lists them.</summary>
    static readonly (string Name, string Description, Func<LocalCluster, int, CancellationToken, Task> Operation, string PastTense)[] OnOneNode =
    [
        ("remove_node", "Take a node out of the membership, stop it and delete its data.", (c, i, ct) => c.RemoveNodeAsync(i, ct), "removed"),
        ("stop_node", "Stop a node cleanly; the membership (yb_servers) drops it.", (c, i, ct) => c.StopNodeAsync(i, ct), "stopped"),
        ("start_node", "Start a stopped or killed node; the membership lists it again.", (c, i, ct) => c.StartNodeAsync(i, ct), "started"),
        ("kill_node", "Crash a node (SIGKILL); the membership still lists it.", (c, i, ct) => c.KillNodeAsync(i, ct), "killed"),
        ("pause_node", "Hang a node (SIGSTOP): connects are accepted, never answered.", (c, i, ct) => c.PauseNodeAsync(i, ct), "paused"),
        ("resume_node", "Resume a paused node (SIGCONT).", (c, i, ct) => c.ResumeNodeAsync(i, ct), "resumed"),
    ];

    /// <summary>remove_node, stop_node, start_node, kill_node, pause_node and resume_node.</summary>
    public static IEnumerable<Command> Operations(CliContext context, Option<string?> baseDir) =>
        OnOneNode.Select(o => Simple(o.Name, o.Description, context, baseDir, o.Operation, o.PastTense));

    public static Command AddNode(CliContext context, Option<string?> baseDir)
    {
        var placement = new Option<string?>("--placement_info")
        {
            Description = "The new node's cloud.region.zone (default: node 1's placement).",
        };
        var nodeType = new Option<string>("--node_type")
        {
            Description = "primary or read_replica.",
            DefaultValueFactory = _ => "primary",
        };
        nodeType.AcceptOnlyFromAmong("primary", "read_replica");
        var command = new Command("add_node", "Add a node (index = largest index + 1) and put it in the membership. Example: bm-dev-ctl add_node --placement_info aws.us-west.us-west-2c") { placement, nodeType };
        command.SetAction(async (parse, ct) =>
        {
            var text = parse.GetValue(placement);
            Placement? parsed = null;
            if (text is not null)
            {
                parsed = Placement.TryParse(text, out var p) ? p : throw new UsageException($"--placement_info '{text}' is not of the form cloud.region.zone.");
            }

            var type = parse.GetValue(nodeType) == "read_replica" ? NodeType.ReadReplica : NodeType.Primary;
            await using var cluster = CliContext.Attach(CliContext.ResolveBaseDirectory(parse.GetValue(baseDir)));
            var first = cluster.Nodes.FirstOrDefault(n => n.State != NodeState.Removed) ?? cluster.Nodes[0];
            var node = await cluster.AddNodeAsync(new NodeSpec(parsed ?? first.Placement, type), ct);
            context.Console.WriteLine($"Added node {node.Index} at {node.Address} ({node.Placement}, {node.Type.ToYbServersName()}).");
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>A command taking one node index and running one cluster operation on it.</summary>
    static Command Simple(string name, string description, CliContext context, Option<string?> baseDir,
        Func<LocalCluster, int, CancellationToken, Task> operation, string pastTense)
    {
        var index = new Argument<int>("node_index") { Description = "The node's index (1 for the first node)." };
        var command = new Command(name, $"{description} Example: bm-dev-ctl {name} 2") { index };
        command.SetAction(async (parse, ct) =>
        {
            var i = parse.GetValue(index);
            await using var cluster = CliContext.Attach(CliContext.ResolveBaseDirectory(parse.GetValue(baseDir)));
            var node = CliContext.ExistingNode(cluster, i);
            await operation(cluster, i, ct);
            context.Console.WriteLine($"Node {i} ({node.Address}) {pastTense}.");
            return ExitCodes.Success;
        });
        return command;
    }
}
