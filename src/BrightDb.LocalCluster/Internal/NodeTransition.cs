namespace BrightDb.LocalCluster.Internal;

/// <summary>
/// One node operation, as a row of <see cref="NodeTransitions"/>: the states it acts on, the states in which it has nothing
/// to do, what it does to the server, the state it leaves the node in and how it changes the membership.
/// <see cref="ApplyAsync"/> is the shape every operation shares: check the state, leave the membership first when the row
/// says so, act on the server, record the new state (the store persists it).
/// </summary>
/// <param name="From">The states the operation acts on.</param>
/// <param name="Done">The states in which it does nothing: the node is already where the operation would take it.</param>
/// <param name="Refusal">The message for any other state, from the node's index and state; null when every state is covered.</param>
/// <param name="Membership">How the operation changes the membership.</param>
/// <param name="Act">What it does to the server.</param>
/// <param name="To">The state it leaves the node in.</param>
sealed record NodeTransition(
    IReadOnlyList<NodeState> From,
    IReadOnlyList<NodeState> Done,
    Func<int, string, string>? Refusal,
    MembershipChange Membership,
    Func<ServerControl, LocalNode, CancellationToken, Task> Act,
    NodeState To)
{
    /// <summary>Carries out the operation on <paramref name="node"/> and records the outcome in <paramref name="store"/>.</summary>
    /// <exception cref="InvalidOperationException">The operation does not fit the node's state.</exception>
    public async Task ApplyAsync(LocalNode node, ClusterStore store, ServerControl servers, CancellationToken ct)
    {
        if (Done.Contains(node.State))
        {
            return;
        }

        if (!From.Contains(node.State))
        {
            var state = node.State.ToString().ToLowerInvariant();
            throw new InvalidOperationException(Refusal?.Invoke(node.Index, state) ?? $"Node {node.Index} is {state}.");
        }

        if (Membership == MembershipChange.LeaveFirst)
        {
            store.Record([node], node.State, isMember: false);
        }

        await Act(servers, node, ct).ConfigureAwait(false);
        store.Record([node], To, Membership switch
        {
            MembershipChange.JoinAfter => true,
            MembershipChange.LeaveFirst => false,
            _ => node.IsMember,
        });
    }
}
