namespace BrightDb.Npgsql.Balancing;

/// <summary>
/// Weighs each server by what the whole cluster puts on it, when the servers say: <c>yb_servers()</c> reports each
/// server's client connections in <c>num_connections</c>. The connections of <em>others</em> on a server (other
/// processes, other data sources) are what it reported minus this data source's own connections there at that moment.
/// The driver's own connection that asked is not subtracted: it is not the application's, and a server that reports
/// connections as load leaves out connections that only ask for the membership (the local cluster does). The selector then compares, for each server, those others plus
/// this data source's connections now, so the report is brought up to date by every open and close made since.
/// When every server reports 0 (YugabyteDB today), the others are 0 everywhere and selection is exactly the per-data-source
/// rule.
/// <para>
/// The herd: processes that read the same report at once and all pick its least-loaded server would pile onto it. Counts
/// that are close are therefore treated as equal: within a group, every server whose load is within
/// <see cref="NearPercent"/>% of the others' mean above the least is a candidate, and the choice among candidates is
/// uniformly random. For small counts (a band of 0) the open takes the lesser of two servers drawn at random from those
/// within one connection of the least: a report read while other processes connect misses their connections, and
/// processes that all took its least-loaded server piled 7-9 of 10 connections on one node in 8 of 60 trials of ten
/// processes started together (2 of 60 with two random choices). Processes that start one after another still end even: a server one above the least is
/// taken only when both draws are above the least, and the next open, seeing the gap, takes the least.
/// </para>
/// Decision owned (docs/architecture.md): weigh (what the cluster reported, for <see cref="ServerSelector"/>).
/// </summary>
static class ClusterWideLoad
{
    /// <summary>A server whose <c>num_connections</c> is NULL: unknown, taken as carrying the mean of the others that reported.</summary>
    internal const int Unknown = -1;

    /// <summary>How close to the least-loaded server, in percent of the mean of the others' connections, a server counts as equally loaded.</summary>
    internal const int NearPercent = 10;

    /// <summary>The connections of others on a server.</summary>
    /// <param name="reported">What the server reported.</param>
    /// <param name="own">This data source's connections on it when the report was read (pooled: idle ones included).</param>
    internal static int Others(int reported, int own) => Math.Max(0, reported - Math.Max(0, own));

    /// <summary>How far above the least loaded of a group a server may be and still be chosen: <see cref="NearPercent"/>% of the group's mean of others.</summary>
    internal static int Band(ServerEndpoint[] group)
    {
        long sum = 0;
        foreach (var server in group)
            sum += server.Others;
        return (int)(sum * NearPercent / (100L * Math.Max(1, group.Length)));
    }

    /// <summary>Sets each server's others from a fresh report.</summary>
    /// <param name="servers">The snapshot's servers, in the order of <paramref name="reported"/>.</param>
    /// <param name="reported">Each server's <c>num_connections</c> (<see cref="Unknown"/> when NULL); empty when the snapshot does not come from <c>yb_servers()</c>.</param>
    /// <param name="readOwn">Reads this data source's connections on each server now; called only when some server reported connections.</param>
    internal static void Weigh(ServerEndpoint[] servers, IReadOnlyList<int> reported, Func<Func<ServerEndpoint, int>> readOwn)
    {
        var any = false;
        for (var i = 0; i < reported.Count && !any; i++)
            any = reported[i] > 0;
        var own = any ? readOwn() : null;
        long known = 0, sum = 0;
        for (var i = 0; i < servers.Length; i++)
        {
            var server = servers[i];
            var value = own is not null && i < reported.Count ? reported[i] : 0;
            server.Others = own is null || value == Unknown ? 0 : Others(value, own(server));
            if (value != Unknown)
            {
                known++;
                sum += server.Others;
            }
        }

        // A server the report could not count is neither empty nor full: it is taken as carrying the mean of the others.
        for (var i = 0; own is not null && i < servers.Length && i < reported.Count; i++)
        {
            if (reported[i] == Unknown)
                servers[i].Others = known == 0 ? 0 : (int)(sum / known);
        }
    }
}
