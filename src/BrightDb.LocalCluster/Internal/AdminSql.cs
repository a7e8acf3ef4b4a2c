using System.Net.Sockets;
using Npgsql;
using NpgsqlTypes;

namespace BrightDb.LocalCluster.Internal;

/// <summary>The SQL the tool runs on a node as its own superuser.</summary>
/// <remarks>
/// Connections are pooled: tests poll connection counts often, and a fresh backend per query is costly on a loaded machine.
/// Nodes are stopped and killed under the pool's feet, so the cluster clears a node's pool when it stops it
/// (<see cref="Forget"/>), and a query that meets a broken pooled connection clears the pool and retries once.
/// </remarks>
static class AdminSql
{
    public static string ConnectionString(LocalNode node, int timeoutSeconds = 15)
    {
        // Straight to the server: the tool's own queries never meet a fault of the node's proxy.
        var builder = AdminConnection.Builder(node.ServerHost, node.ServerPort);
        builder.ApplicationName = ServerSetup.ToolApplicationName;
        builder.Pooling = true;
        builder.MaxPoolSize = 4;
        builder.ConnectionIdleLifetime = 60;
        builder.Timeout = timeoutSeconds;
        builder.CommandTimeout = timeoutSeconds;
        return builder.ConnectionString;
    }

    /// <summary>Drops the node's pooled connections (after a stop, kill, removal or destroy).</summary>
    public static void Forget(LocalNode node)
    {
        foreach (var timeout in new[] { 15, 10 })
        {
            using var connection = new NpgsqlConnection(ConnectionString(node, timeout));
            NpgsqlConnection.ClearPool(connection);
        }
    }

    public static Task ExecuteAsync(LocalNode node, string sql, CancellationToken cancellationToken) =>
        WithConnectionAsync(node, 15, async connection =>
        {
            var command = new NpgsqlCommand(sql, connection);
            await using var commandScope = command.ConfigureAwait(false);
            return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }, cancellationToken);

    /// <summary>ALTER ROLE takes no parameters: the password is quoted as a literal (standard_conforming_strings is on).</summary>
    public static Task SetPasswordAsync(LocalNode node, string password, CancellationToken cancellationToken) =>
        ExecuteAsync(node, $"ALTER ROLE {ServerSetup.User} PASSWORD '{password.Replace("'", "''", StringComparison.Ordinal)}'", cancellationToken);

    public static Task<int> CountClientConnectionsAsync(LocalNode node, string user, string? applicationName, CancellationToken cancellationToken) =>
        WithConnectionAsync(node, 15, async connection =>
        {
            var command = new NpgsqlCommand(
                """
                SELECT count(*)::int FROM pg_catalog.pg_stat_activity
                WHERE backend_type = 'client backend' AND usename = @user AND pid <> pg_catalog.pg_backend_pid()
                  AND (@app IS NULL OR application_name = @app)
                """,
                connection);
            await using var commandScope = command.ConfigureAwait(false);
            command.Parameters.Add(new NpgsqlParameter("user", NpgsqlDbType.Text) { Value = user });
            command.Parameters.Add(new NpgsqlParameter("app", NpgsqlDbType.Text) { Value = (object?)applicationName ?? DBNull.Value });
            return (int)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
        }, cancellationToken);

    /// <summary>The node's client backends as rpcz lists them, leaving out the tool's own connections.</summary>
    public static Task<IReadOnlyList<RpczConnection>> ClientBackendsAsync(LocalNode node, CancellationToken cancellationToken) =>
        WithConnectionAsync<IReadOnlyList<RpczConnection>>(node, 10, async connection =>
        {
            var command = new NpgsqlCommand(
                $"""
                SELECT backend_type, datname, usename, host(client_addr), client_port, application_name, state, query
                FROM pg_catalog.pg_stat_activity
                WHERE backend_type = 'client backend' AND pid <> pg_catalog.pg_backend_pid()
                  AND application_name IS DISTINCT FROM '{ServerSetup.ToolApplicationName}'
                ORDER BY backend_start, pid
                """,
                connection);
            await using var commandScope = command.ConfigureAwait(false);
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using var readerScope = reader.ConfigureAwait(false);
            var rows = new List<RpczConnection>();
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                string? Text(int i) => reader.IsDBNull(i) ? null : reader.GetString(i);
                rows.Add(new RpczConnection(
                    Text(0) ?? "client backend", Text(1), Text(2), Text(3), reader.IsDBNull(4) ? null : reader.GetInt32(4), Text(5), Text(6), Text(7)));
            }

            return rows;
        }, cancellationToken);

    static async Task<T> WithConnectionAsync<T>(LocalNode node, int timeoutSeconds, Func<NpgsqlConnection, Task<T>> work, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            var connection = new NpgsqlConnection(ConnectionString(node, timeoutSeconds));
            await using var connectionScope = connection.ConfigureAwait(false);
            try
            {
                await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
                return await work(connection).ConfigureAwait(false);
            }
            catch (NpgsqlException ex) when (attempt == 1 && IsBrokenConnection(ex))
            {
                // A pooled connection to a server that restarted since: start afresh once.
                NpgsqlConnection.ClearPool(connection);
            }
        }
    }

    /// <summary>The connection broke (server restarted, killed or shutting down); other server errors and timeouts are not retried.</summary>
    static bool IsBrokenConnection(NpgsqlException ex) => ex switch
    {
        PostgresException server => server.SqlState is "57P01" or "57P02" or "57P03",
        _ => ex.InnerException is IOException or SocketException or EndOfStreamException,
    };
}
