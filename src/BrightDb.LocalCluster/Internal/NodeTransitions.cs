namespace BrightDb.LocalCluster.Internal;

/// <summary>
/// The node operations as a table, one <see cref="NodeTransition"/> a row. Stop and remove take a node out of the membership
/// before touching its server; start and add put it in once it accepts connections; kill and pause leave it listed, as a
/// real cluster keeps listing a crashed or hung server for a while. Add acts on a new node, not yet listed and stopped.
/// </summary>
static class NodeTransitions
{
    public static NodeTransition Stop { get; } = new(
        From: [NodeState.Running, NodeState.Killed, NodeState.Paused], Done: [NodeState.Stopped], Refusal: null,
        MembershipChange.LeaveFirst, (servers, node, ct) => servers.StopAsync(node, Native.SIGINT, ct), To: NodeState.Stopped);

    public static NodeTransition Start { get; } = new(
        From: [NodeState.Stopped, NodeState.Killed], Done: [NodeState.Running],
        Refusal: (index, state) => $"Node {index} is {state}: resume it instead of starting it.",
        MembershipChange.JoinAfter, (servers, node, ct) => servers.StartAsync(node, ct), To: NodeState.Running);

    public static NodeTransition Kill { get; } = new(
        From: [NodeState.Running, NodeState.Paused], Done: [],
        Refusal: (index, state) => $"Node {index} is {state}: there is no server to kill.",
        MembershipChange.Keep, (servers, node, ct) => servers.KillAsync(node, ct), To: NodeState.Killed);

    public static NodeTransition Pause { get; } = new(
        From: [NodeState.Running], Done: [NodeState.Paused],
        Refusal: (index, state) => $"Node {index} is {state}: only a running node can be paused.",
        MembershipChange.Keep, (servers, node, _) => servers.PauseAsync(node), To: NodeState.Paused);

    public static NodeTransition Resume { get; } = new(
        From: [NodeState.Paused], Done: [NodeState.Running],
        Refusal: (index, state) => $"Node {index} is {state}, not paused.",
        MembershipChange.Keep, (servers, node, _) => servers.ResumeAsync(node), To: NodeState.Running);

    public static NodeTransition Remove { get; } = new(
        From: [NodeState.Running, NodeState.Stopped, NodeState.Killed, NodeState.Paused], Done: [], Refusal: null,
        MembershipChange.LeaveFirst, (servers, node, ct) => servers.RemoveAsync(node, ct), To: NodeState.Removed);

    public static NodeTransition Add { get; } = new(
        From: [NodeState.Stopped], Done: [], Refusal: null,
        MembershipChange.JoinAfter, (servers, node, ct) => servers.AddAsync(node, ct), To: NodeState.Running);
}
