using System.Globalization;
using Npgsql;

namespace BrightDb.Npgsql.Topology;

/// <summary>
/// Runs <c>select * from yb_servers()</c> on an open connection and reads the columns by name, so that servers
/// with fewer columns (older releases) or more (newer ones) are read alike.
/// </summary>
static class YbServersQuery
{
    internal const string Sql = "select * from yb_servers()";

    /// <summary>PostgreSQL's undefined_function: the server is not BrightDB (or too old to know its servers).</summary>
    internal const string UndefinedFunction = "42883";

    internal static async Task<IReadOnlyList<YbServersRow>> RunAsync(NpgsqlConnection connection, int timeoutSeconds, bool async, CancellationToken cancellationToken)
    {
        var command = new NpgsqlCommand(Sql, connection) { CommandTimeout = timeoutSeconds };
        await using var commandScope = command.ConfigureAwait(false);
        var reader = async
            ? await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false)
            : command.ExecuteReader();
        await using var readerScope = reader.ConfigureAwait(false);

        int Ordinal(string name)
        {
            for (var i = 0; i < reader.FieldCount; i++)
            {
                if (string.Equals(reader.GetName(i), name, StringComparison.OrdinalIgnoreCase))
                    return i;
            }

            return -1;
        }

        var (host, port, nodeType, cloud, region, zone, publicIp, uuid, numConnections) =
            (Ordinal("host"), Ordinal("port"), Ordinal("node_type"), Ordinal("cloud"), Ordinal("region"), Ordinal("zone"), Ordinal("public_ip"), Ordinal("uuid"),
             Ordinal("num_connections"));

        string? Text(int ordinal)
        {
            if (ordinal < 0 || reader.IsDBNull(ordinal))
                return null;
            return Convert.ToString(reader.GetValue(ordinal), CultureInfo.InvariantCulture);
        }

        long? Number(int ordinal)
        {
            if (ordinal < 0 || reader.IsDBNull(ordinal))
                return null;
            return reader.GetValue(ordinal) switch
            {
                long l => l,
                int i => i,
                short s => s,
                decimal d when d == Math.Floor(d) && d is >= long.MinValue and <= long.MaxValue => (long)d,
                string t when long.TryParse(t, NumberStyles.Integer, CultureInfo.InvariantCulture, out var parsed) => parsed,
                _ => null,
            };
        }

        var rows = new List<YbServersRow>();
        while (async ? await reader.ReadAsync(cancellationToken).ConfigureAwait(false) : reader.Read())
        {
            // Read one row past the cap so the parser can say that rows were dropped.
            if (rows.Count > YbServersParser.MaxRows)
                continue;
            rows.Add(new YbServersRow(Text(host), Number(port), Text(nodeType), Text(cloud), Text(region), Text(zone), Text(publicIp), Text(uuid),
                Number(numConnections)));
        }

        return rows;
    }
}
