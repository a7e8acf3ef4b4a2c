namespace BrightDb.Npgsql;

/// <summary>
/// What a data source knows of its cluster at one moment: an immutable snapshot, replaced as a whole on every
/// refresh, so that a reader never sees half of an update.
/// </summary>
public sealed class ClusterTopology
{
    /// <summary>Creates a snapshot.</summary>
    public ClusterTopology(IReadOnlyList<ServerInfo> servers, DateTimeOffset retrievedAt, bool fromYbServers)
    {
        ArgumentNullException.ThrowIfNull(servers);
        Servers = servers.ToArray();
        RetrievedAt = retrievedAt;
        FromYbServers = fromYbServers;
    }

    /// <summary>The servers, in the order <c>yb_servers()</c> returned them.</summary>
    public IReadOnlyList<ServerInfo> Servers { get; }

    /// <summary>When the snapshot was read.</summary>
    public DateTimeOffset RetrievedAt { get; }

    /// <summary>
    /// <see langword="true"/> when the servers come from <c>yb_servers()</c>; <see langword="false"/> when the cluster
    /// has no such function (a plain PostgreSQL server) and the listed hosts are used as they are.
    /// </summary>
    public bool FromYbServers { get; }

    /// <summary>
    /// The <c>num_connections</c> each server reported, in the order of <see cref="Servers"/> (empty when not read from
    /// <c>yb_servers()</c>). Not part of a server's description: the counts change on every read, the servers do not.
    /// </summary>
    internal IReadOnlyList<int> ReportedConnections { get; init; } = [];

    /// <summary>Whether two snapshots list the same servers with the same properties, in any order.</summary>
    public bool SameServersAs(ClusterTopology? other) =>
        other is not null && other.Servers.Count == Servers.Count && Servers.ToHashSet().SetEquals(other.Servers);

    /// <inheritdoc />
    public override string ToString() => $"{Servers.Count} server(s): {string.Join(", ", Servers)}";
}
