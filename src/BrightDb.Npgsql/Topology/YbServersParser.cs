using System.Net;
using BrightDb.Npgsql.Balancing;
using BrightDb.Npgsql.ConnectionStrings;

namespace BrightDb.Npgsql.Topology;

/// <summary>
/// Turns the rows of <c>yb_servers()</c> into servers: a row that cannot be used (no host, a bad port, an unknown
/// node type, an over-long field, a duplicate) is skipped and reported, never fatal, because one bad row must not
/// take the whole cluster away from the application.
/// </summary>
static class YbServersParser
{
    /// <summary>The most rows read from one answer; a cluster is far smaller, so more means something is wrong.</summary>
    internal const int MaxRows = 4096;

    /// <summary>The longest field accepted (a DNS name is at most 253 characters).</summary>
    internal const int MaxFieldLength = 255;

    /// <summary>The largest <c>num_connections</c> taken as it is; more is read as this many (a load that high is "very loaded").</summary>
    internal const int MaxReportedConnections = 1_000_000;

    /// <param name="Servers">The usable servers, in the rows' order.</param>
    /// <param name="Problems">Why rows were skipped.</param>
    /// <param name="UsesPublicIp">Whether the driver connects to the servers' public addresses.</param>
    /// <param name="Reported">The <c>num_connections</c> of each server, as reported (0 when negative; <see cref="ClusterWideLoad.Unknown"/> when NULL).</param>
    internal sealed record Result(IReadOnlyList<ServerInfo> Servers, IReadOnlyList<string> Problems, bool UsesPublicIp, IReadOnlyList<int> Reported);

    /// <param name="rows">The rows, as read.</param>
    /// <param name="givenAddresses">
    /// The addresses the application was given (listed host names and what they resolve to): when one of them is a
    /// server's <c>public_ip</c>, the application reaches the cluster from outside and connects to public addresses.
    /// </param>
    /// <param name="choice">Which address to connect to; <see cref="ServerAddressChoice.Auto"/> decides by <paramref name="givenAddresses"/>.</param>
    internal static Result Parse(IReadOnlyList<YbServersRow> rows, IReadOnlySet<string> givenAddresses, ServerAddressChoice choice = ServerAddressChoice.Auto)
    {
        var problems = new List<string>();
        var usePublic = choice switch
        {
            ServerAddressChoice.Public => true,
            ServerAddressChoice.Private => false,
            _ => rows.Any(r => !string.IsNullOrWhiteSpace(r.PublicIp) && givenAddresses.Contains(r.PublicIp.Trim())),
        };

        var servers = new List<ServerInfo>(Math.Min(rows.Count, MaxRows));
        var reported = new List<int>(Math.Min(rows.Count, MaxRows));
        var seen = new HashSet<(string, int)>();
        for (var i = 0; i < rows.Count; i++)
        {
            if (i == MaxRows)
            {
                problems.Add($"more than {MaxRows} rows: the rest ignored");
                break;
            }

            var row = rows[i];
            if (TryMakeServer(row, usePublic, out var server, out var problem))
            {
                if (seen.Add((server.ConnectHost.ToLowerInvariant(), server.Port)))
                {
                    servers.Add(server);
                    reported.Add(row.NumConnections switch
                    {
                        null => ClusterWideLoad.Unknown,
                        > 0 and var n => (int)Math.Min(n, MaxReportedConnections),
                        _ => 0,
                    });
                }
                else
                {
                    problems.Add($"row {i + 1}: duplicate of server {server.ConnectHost}:{server.Port}");
                }
            }
            else
            {
                problems.Add($"row {i + 1}: {problem}");
            }
        }

        return new Result(servers, problems, usePublic, reported);
    }

    static bool TryMakeServer(YbServersRow row, bool usePublic, out ServerInfo server, out string problem)
    {
        server = null!;
        var host = Clean(row.Host);
        if (host is null)
        {
            problem = "no host";
            return false;
        }

        if (TooLong(row, out var field))
        {
            problem = $"field {field} longer than {MaxFieldLength} characters";
            return false;
        }

        if (row.Port is not { } port || port is < 1 or > 65535)
        {
            problem = $"host {host}: port {(row.Port?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "NULL")} is not from 1 to 65535";
            return false;
        }

        ServerNodeType type;
        switch (Clean(row.NodeType)?.ToLowerInvariant())
        {
            case "primary":
                type = ServerNodeType.Primary;
                break;
            case "read_replica" or "read-replica" or "readreplica":
                type = ServerNodeType.ReadReplica;
                break;
            default:
                problem = $"host {host}: unknown node_type '{row.NodeType ?? "NULL"}'";
                return false;
        }

        var publicIp = Clean(row.PublicIp);
        server = new ServerInfo(host, (int)port, type, Clean(row.Cloud), Clean(row.Region), Clean(row.Zone), publicIp, Clean(row.Uuid))
        {
            ConnectHost = usePublic && publicIp is not null ? publicIp : host,
        };
        problem = "";
        return true;
    }

    static string? Clean(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    static bool TooLong(YbServersRow row, out string field)
    {
        foreach (var (name, value) in new[]
                 {
                     ("host", row.Host), ("node_type", row.NodeType), ("cloud", row.Cloud), ("region", row.Region),
                     ("zone", row.Zone), ("public_ip", row.PublicIp), ("uuid", row.Uuid),
                 })
        {
            if (value is { Length: > MaxFieldLength })
            {
                field = name;
                return true;
            }
        }

        field = "";
        return false;
    }

    /// <summary>The listed hosts, with what the host names among them resolve to.</summary>
    internal static async Task<IReadOnlySet<string>> GivenAddressesAsync(IReadOnlyList<HostAndPort> listed, CancellationToken cancellationToken)
    {
        var set = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var entry in listed)
        {
            set.Add(entry.Host);
            if (IPAddress.TryParse(entry.Host, out _))
                continue;
            try
            {
                foreach (var address in await Dns.GetHostAddressesAsync(entry.Host, cancellationToken).ConfigureAwait(false))
                    set.Add(address.ToString());
            }
            catch (System.Net.Sockets.SocketException)
            {
                // A name that does not resolve matches no public_ip; the connection attempt will report it.
            }
        }

        return set;
    }
}
