using System.Globalization;
using BrightDb.LocalCluster;
using Spectre.Console;

namespace BmDevCtl;

/// <summary>The tables the CLI prints.</summary>
static class Views
{
    public static async Task StatusAsync(IAnsiConsole console, LocalCluster cluster, CancellationToken ct)
    {
        var counts = await CountsAsync(cluster, ct);
        var table = new Table().Title(Markup.Escape($"BrightDB local cluster ({cluster.BaseDirectory})"))
            .AddColumns("node", "address", "cloud.region.zone", "node type", "state", "client connections", "rpcz");
        foreach (var node in cluster.Nodes.Where(n => n.State != NodeState.Removed))
        {
            table.AddRow(
                node.Index.ToString(CultureInfo.InvariantCulture),
                node.Address,
                Markup.Escape(node.Placement.ToString()),
                node.Type.ToYbServersName(),
                StateText(node),
                counts.TryGetValue(node.Index, out var count) ? count : "-",
                $"http://{node.Host}:{node.RpczPort.ToString(CultureInfo.InvariantCulture)}/rpcz");
        }

        console.Write(table);
        console.WriteLine(cluster.SingleAddress
            ? "Addresses: extra loopback addresses unavailable: every node listens on one address with consecutive ports."
            : $"Addresses: one loopback address per node (127.0.{cluster.AddressBlock.ToString(CultureInfo.InvariantCulture)}.i).");
        var rpcz = DetachedRpcz.RunningPid(cluster.BaseDirectory);
        console.WriteLine(rpcz is { } pid
            ? $"rpcz: served by process {pid.ToString(CultureInfo.InvariantCulture)}."
            : "rpcz: not running.");
        console.WriteLine($"yb_servers(): {Behavior(cluster)}; lists {cluster.Nodes.Count(n => n.IsMember && n.State != NodeState.Removed)} node(s).");
        if (cluster.Nodes.Where(n => n.State != NodeState.Removed && n.PublicHost is not null).ToList() is { Count: > 0 } withPublic)
        {
            console.WriteLine("Public addresses (public_ip): " + string.Join(", ", withPublic.Select(n => $"node {n.Index.ToString(CultureInfo.InvariantCulture)} {n.PublicHost}")) + ".");
        }

        if (cluster.Nodes.Where(n => n.State != NodeState.Removed && n.HostName is not null).ToList() is { Count: > 0 } named)
        {
            console.WriteLine("Host names (in /etc/hosts, reported by yb_servers()): " + string.Join(", ", named.Select(n => $"node {n.Index.ToString(CultureInfo.InvariantCulture)} {n.HostName}")) + ".");
        }

        if (cluster.TlsRootCertificateFile is { } authority)
        {
            console.WriteLine($"TLS: user bigmath over TLS only; the cluster's CA certificate (sslrootcert, Root Certificate) is {authority}; " +
                              $"bigmath's client certificate (sslcert, SSL Certificate) is {cluster.TlsClientCertificateFile} and its key (sslkey, SSL Key) {cluster.TlsClientKeyFile}.");
        }

        if (cluster.FaultProxy)
        {
            var nodes = cluster.Nodes.Where(n => n.State != NodeState.Removed).ToList();
            console.WriteLine("Fault proxies: every address above is a proxy; the servers listen on " +
                              string.Join(", ", nodes.Select(n => $"{n.ServerHost}:{n.ServerPort.ToString(CultureInfo.InvariantCulture)}")) + ".");
            foreach (var node in nodes)
            {
                console.WriteLine($"  node {node.Index.ToString(CultureInfo.InvariantCulture)}: fault {node.Fault}");
            }
        }
    }

    public static async Task ConnectionsAsync(IAnsiConsole console, LocalCluster cluster, CancellationToken ct)
    {
        var counts = await CountsAsync(cluster, ct);
        var table = new Table().AddColumns("node", "address", "state", "client connections (user bigmath)");
        foreach (var node in cluster.Nodes.Where(n => n.State != NodeState.Removed))
        {
            table.AddRow(node.Index.ToString(CultureInfo.InvariantCulture), node.Address, StateText(node),
                counts.TryGetValue(node.Index, out var count) ? count : "-");
        }

        console.Write(table);
    }

    public static void YbServers(IAnsiConsole console, LocalNode asked, IReadOnlyList<YbServersRow> rows)
    {
        var table = new Table().Title($"select * from yb_servers() on node {asked.Index.ToString(CultureInfo.InvariantCulture)} ({asked.Address})")
            .AddColumns("host", "port", "num_connections", "node_type", "cloud", "region", "zone", "public_ip", "uuid", "universe_uuid");
        foreach (var r in rows)
        {
            table.AddRow(Cell(r.Host), Cell(r.Port), Cell(r.NumConnections), Cell(r.NodeType), Cell(r.Cloud), Cell(r.Region), Cell(r.Zone),
                Cell(r.PublicIp), Cell(r.Uuid), Cell(r.UniverseUuid));
        }

        console.Write(table);
        console.WriteLine($"({rows.Count.ToString(CultureInfo.InvariantCulture)} rows)");
    }

    static string Cell(string? value) => value is null ? "NULL" : Markup.Escape(value);

    static string Cell(long? value) => value?.ToString(CultureInfo.InvariantCulture) ?? "NULL";

    static string Behavior(LocalCluster cluster) => cluster.YbServersBehavior == YbServersBehavior.Normal
        ? "normal"
        : cluster.YbServersBehavior == YbServersBehavior.Fail ? "failing (injected)"
        : cluster.YbServersBehavior == YbServersBehavior.Missing ? "missing (injected)"
        : "slow (injected)";

    /// <summary>The recorded state, checked against the processes: a server that died on its own shows as such.</summary>
    static string StateText(LocalNode node)
    {
        var state = node.State.ToString().ToLowerInvariant();
        var alive = node.PostmasterProcessId is not null;
        return node.State switch
        {
            NodeState.Running or NodeState.Paused when !alive => $"{state} (no server process!)",
            NodeState.Killed => node.IsMember ? "killed (still in yb_servers)" : state,
            NodeState.Paused => "paused (hung)",
            _ => state,
        };
    }

    /// <summary>Per node, so one node that does not answer does not hide the others.</summary>
    static async Task<Dictionary<int, string>> CountsAsync(LocalCluster cluster, CancellationToken ct)
    {
        var running = cluster.Nodes.Where(n => n.State == NodeState.Running).ToList();
        var counts = await Task.WhenAll(running.Select(async n =>
        {
            try
            {
                return (await cluster.GetClientConnectionCountAsync(n.Index, null, ct)).ToString(CultureInfo.InvariantCulture);
            }
            catch (Exception ex) when (ex is Npgsql.NpgsqlException or TimeoutException)
            {
                return "? (no answer)";
            }
        }));
        return running.Zip(counts).ToDictionary(p => p.First.Index, p => p.Second);
    }
}
