using Npgsql;
using NpgsqlTypes;

namespace BrightDb.LocalCluster.Internal;

/// <summary>The SQL the tool runs on a node as its own superuser.</summary>
internal static class AdminSql
{
    /// <summary>Unpooled: nodes are stopped and killed under the tool's feet, and a pooled connection would go stale.</summary>
    public static string ConnectionString(LocalNode node, int timeoutSeconds = 15) => new NpgsqlConnectionStringBuilder
    {
        Host = node.Host,
        Port = node.Port,
        Database = ServerSetup.Database,
        Username = ServerSetup.AdminUser,
        Password = ServerSetup.AdminPassword,
        ApplicationName = ServerSetup.ToolApplicationName,
        Pooling = false,
        Timeout = timeoutSeconds,
        CommandTimeout = timeoutSeconds,
    }.ConnectionString;

    public static async Task ExecuteAsync(LocalNode node, string sql, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(ConnectionString(node));
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>ALTER ROLE takes no parameters: the password is quoted as a literal (standard_conforming_strings is on).</summary>
    public static Task SetPasswordAsync(LocalNode node, string password, CancellationToken cancellationToken) =>
        ExecuteAsync(node, $"ALTER ROLE {ServerSetup.User} PASSWORD '{password.Replace("'", "''", StringComparison.Ordinal)}'", cancellationToken);

    public static async Task<int> CountClientConnectionsAsync(LocalNode node, string user, string? applicationName, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(ConnectionString(node));
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(
            """
            SELECT count(*)::int FROM pg_catalog.pg_stat_activity
            WHERE backend_type = 'client backend' AND usename = @user AND pid <> pg_catalog.pg_backend_pid()
              AND (@app IS NULL OR application_name = @app)
            """,
            connection);
        command.Parameters.Add(new NpgsqlParameter("user", NpgsqlDbType.Text) { Value = user });
        command.Parameters.Add(new NpgsqlParameter("app", NpgsqlDbType.Text) { Value = (object?)applicationName ?? DBNull.Value });
        return (int)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>The node's client backends as rpcz lists them, leaving out the tool's own connections.</summary>
    public static async Task<IReadOnlyList<RpczConnection>> ClientBackendsAsync(LocalNode node, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(ConnectionString(node, timeoutSeconds: 10));
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(
            $"""
            SELECT backend_type, datname, usename, host(client_addr), client_port, application_name, state, query
            FROM pg_catalog.pg_stat_activity
            WHERE backend_type = 'client backend' AND pid <> pg_catalog.pg_backend_pid()
              AND application_name IS DISTINCT FROM '{ServerSetup.ToolApplicationName}'
            ORDER BY backend_start, pid
            """,
            connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var rows = new List<RpczConnection>();
        while (await reader.ReadAsync(cancellationToken))
        {
            string? Text(int i) => reader.IsDBNull(i) ? null : reader.GetString(i);
            rows.Add(new RpczConnection(
                Text(0) ?? "client backend", Text(1), Text(2), Text(3), reader.IsDBNull(4) ? null : reader.GetInt32(4), Text(5), Text(6), Text(7)));
        }

        return rows;
    }
}

/// <summary>One client connection as rpcz reports it.</summary>
internal sealed record RpczConnection(
    string BackendType, string? DbName, string? User, string? Host, int? Port, string? ApplicationName, string? BackendStatus, string? Query);
