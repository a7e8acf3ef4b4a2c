namespace BrightDb.LocalCluster.Dashboard;

/// <summary>What the dashboard shows at one moment: every node that is not removed, and the cluster's total of client
/// connections. Immutable; <see cref="ClusterMonitor"/> publishes a new one on every sample.</summary>
/// <param name="At">When the sample was taken.</param>
/// <param name="Nodes">The nodes, by index.</param>
/// <param name="TotalConnections">The client connections on every node that answered.</param>
/// <param name="IntervalMilliseconds">How often a sample is taken, and so the distance between two points of a node's history.</param>
public sealed record ClusterView(DateTimeOffset At, IReadOnlyList<NodeView> Nodes, int TotalConnections, int IntervalMilliseconds);

/// <summary>One node's card.</summary>
/// <param name="Index">The node's 1-based index.</param>
/// <param name="Address">Its SQL address, <c>host:port</c>.</param>
/// <param name="Placement">Its <c>cloud.region.zone</c>.</param>
/// <param name="Type"><c>primary</c> or <c>read_replica</c>, as <c>yb_servers()</c> says.</param>
/// <param name="State"><c>running</c>, <c>stopped</c>, <c>killed</c> or <c>paused</c>.</param>
/// <param name="Connections">Its client connections, or <see langword="null"/> when they cannot be known (a paused server
/// answers nothing; a running one that did not answer in time).</param>
/// <param name="Applications">Those connections by <c>application_name</c> (<c>""</c> for none), most first.</param>
/// <param name="History">Its connections at each of the last samples, oldest first; <see langword="null"/> where unknown.</param>
/// <param name="Error">Why <paramref name="Connections"/> is unknown for a running node, else <see langword="null"/>.</param>
public sealed record NodeView(
    int Index,
    string Address,
    string Placement,
    string Type,
    string State,
    int? Connections,
    IReadOnlyList<ApplicationConnections> Applications,
    IReadOnlyList<int?> History,
    string? Error);

/// <summary>The connections of one application on a node.</summary>
/// <param name="Name">The connections' <c>application_name</c>; empty when they set none.</param>
/// <param name="Connections">How many client connections have it.</param>
public sealed record ApplicationConnections(string Name, int Connections);
