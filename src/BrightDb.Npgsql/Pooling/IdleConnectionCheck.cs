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
    /// broke or an open failed there (<paramref name="checkedAt"/> 0), until <paramref name="checkEveryOpenUntil"/> (
    /// <c>Host Recheck Seconds</c> after such a failure: a server going away ends its connections one after another, so one
    /// that passed says nothing of the others), and once <paramref name="interval"/> (<c>Host Recheck Seconds</c>) after
    /// the last check that passed. Times in one clock's units.
    /// </summary>
    internal static bool IsDue(bool watching, long now, long checkedAt, long checkEveryOpenUntil, long interval) =>
        !watching || checkedAt == 0 || now < checkEveryOpenUntil || now - checkedAt >= interval;

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

/// <summary>
/// An idle connection of a server's direct pool failed its check (<see cref="IdleConnectionCheck"/>) with an error that
/// says it was dead: the server is judged unavailable for this open, whatever the error (a <c>57P05</c> idle-session
/// timeout as much as a reset), as Npgsql's multi-host data source passes over the host whose idle connection failed.
/// </summary>
sealed class IdleConnectionFailedException(Exception inner)
    : IOException($"an idle connection failed its check before it was handed out ({Balancing.FailureClassifier.Describe(inner)})", inner);
