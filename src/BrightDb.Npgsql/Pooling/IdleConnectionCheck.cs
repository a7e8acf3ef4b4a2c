using Npgsql;

namespace BrightDb.Npgsql.Pooling;

/// <summary>
/// Checks that a connection handed out by a server's direct pool (<see cref="Balancing.ServerEndpoint.DirectForOpen"/>)
/// still reaches its server, as Npgsql's multi-host data source checks an idle connection when its record of the host's
/// state has expired: one round trip, bounded by <c>Timeout</c>. A connection that fails the check is closed here, while
/// the driver's <c>StateChange</c> handler still counts it, and the error is thrown for the open to fail over.
/// Decision owned (docs/architecture.md): check an idle connection of a direct pool (when, <see cref="IsDue"/>, and how).
/// </summary>
static class IdleConnectionCheck
{
    /// <summary>The query of the check (Npgsql sends no empty one).</summary>
    const string Query = "SELECT 1";

    /// <summary>
    /// Whether the connection a server's direct pool hands out now is to be checked: while the server's watch is not
    /// connected (nothing would notice the server ending its idle connections), when no check passed since a connection
    /// broke or an open failed there (<paramref name="checkedAt"/> 0), and once <paramref name="interval"/> (<c>Host Recheck
    /// Seconds</c>) after the last check that passed. Times in one clock's units.
    /// </summary>
    internal static bool IsDue(bool watching, long now, long checkedAt, long interval) =>
        !watching || checkedAt == 0 || now - checkedAt >= interval;

    internal static async Task RunAsync(NpgsqlConnection connection, int timeoutSeconds, CancellationToken cancellationToken)
    {
        try
        {
            var command = new NpgsqlCommand(Query, connection) { CommandTimeout = timeoutSeconds };
            await using (command.ConfigureAwait(false))
                await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    internal static void Run(NpgsqlConnection connection, int timeoutSeconds)
    {
        try
        {
            using var command = new NpgsqlCommand(Query, connection) { CommandTimeout = timeoutSeconds };
            command.ExecuteNonQuery();
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }
}
