using Npgsql;

namespace BrightDb.LocalCluster.Internal;

/// <summary>The SQL the tool runs as the client user bigmath, the way a driver would, to show what a driver sees.</summary>
static class ClientSql
{
    /// <summary>The connection string of user bigmath to a node.</summary>
    public static string ConnectionString(LocalNode node, string password, string? rootCertificate = null)
    {
        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = node.Host,
            Port = node.Port,
            Database = ServerSetup.Database,
            Username = ServerSetup.User,
            Password = password,
        };
        if (rootCertificate is not null)
        {
            builder.SslMode = SslMode.VerifyFull;
            builder.RootCertificate = rootCertificate;
        }

        return builder.ConnectionString;
    }

    /// <summary>What <c>select * from yb_servers()</c> returns over a fresh, unpooled connection.</summary>
    public static async Task<IReadOnlyList<YbServersRow>> QueryYbServersAsync(string connectionString, CancellationToken ct)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false, Timeout = 15, GssEncryptionMode = GssEncryptionMode.Disable };
        var connection = new NpgsqlConnection(builder.ConnectionString);
        await using var connectionScope = connection.ConfigureAwait(false);
        await connection.OpenAsync(ct).ConfigureAwait(false);
        var command = new NpgsqlCommand("select * from yb_servers()", connection);
        await using var commandScope = command.ConfigureAwait(false);
        var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        await using var readerScope = reader.ConfigureAwait(false);
        var rows = new List<YbServersRow>();
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            string? Text(string column) => reader[column] as string;
            long? Number(string column) => reader[column] is long value ? value : null;
            rows.Add(new YbServersRow(Text("host"), Number("port"), Number("num_connections"), Text("node_type"), Text("cloud"), Text("region"),
                Text("zone"), Text("public_ip"), Text("uuid"), Text("universe_uuid")));
        }

        return rows;
    }
}
