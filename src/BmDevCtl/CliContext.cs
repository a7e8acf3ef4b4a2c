using BrightDb.LocalCluster;
using Spectre.Console;

namespace BmDevCtl;

/// <summary>Where a command writes and which cluster it works on.</summary>
sealed class CliContext(IAnsiConsole console, TextWriter error)
{
    public IAnsiConsole Console { get; } = console;

    public TextWriter Error { get; } = error;

    /// <summary>
    /// As root the default is /tmp/bigmath-data: the servers run as the postgres account, which cannot reach /root. Other
    /// users get ~/bigmath-data as with yb-ctl.
    /// </summary>
    public static string DefaultBaseDirectory =>
        Environment.UserName == "root"
            ? "/tmp/bigmath-data"
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), "bigmath-data");

    public static string ResolveBaseDirectory(string? option) => Path.GetFullPath(option ?? DefaultBaseDirectory);

    /// <summary>The existing cluster, or a failure that says how to create one.</summary>
    public static LocalCluster Attach(string baseDirectory) =>
        LocalCluster.TryAttach(baseDirectory)
        ?? throw new CommandFailedException($"No cluster in {baseDirectory}. Create one with: bm-dev-ctl create --rf 3 --placement_info \"c.r.z,...\"");

    /// <summary>The node, or a failure naming the nodes that exist.</summary>
    public static LocalNode ExistingNode(LocalCluster cluster, int index)
    {
        var node = cluster.Nodes.FirstOrDefault(n => n.Index == index && n.State != NodeState.Removed);
        return node ?? throw new CommandFailedException(
            $"No node {index} in the cluster (nodes: {string.Join(", ", cluster.Nodes.Where(n => n.State != NodeState.Removed).Select(n => n.Index))}).");
    }
}
