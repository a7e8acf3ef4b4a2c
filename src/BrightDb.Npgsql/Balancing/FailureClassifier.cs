using System.Net.Sockets;
using System.Security.Authentication;
using Npgsql;

namespace BrightDb.Npgsql.Balancing;

/// <summary>
/// Tells a server that cannot be reached (try another, skip it for a while) from an error the application must see
/// as it is (wrong password, missing database, exhausted pool, cancellation by the caller).
/// </summary>
static class FailureClassifier
{
    internal static bool IsServerUnavailable(Exception exception, CancellationToken callerToken)
    {
        switch (exception)
        {
            case OperationCanceledException:
                // The caller's cancellation is the caller's; any other cancellation is an attempt that ran out of time.
                return !callerToken.IsCancellationRequested;
            case PostgresException pg:
                // The server answered: only its "not now" states mean another server should be tried.
                return pg.SqlState is PostgresErrorCodes.CannotConnectNow or PostgresErrorCodes.AdminShutdown
                    or PostgresErrorCodes.CrashShutdown or PostgresErrorCodes.TooManyConnections;
            case NpgsqlException npgsql when npgsql.Message.StartsWith("The connection pool has been exhausted", StringComparison.Ordinal):
                // Our own pool is full: the server is fine, and every other server's pool may be full too.
                return false;
            case NpgsqlException { InnerException: AggregateException hosts }:
                // Npgsql's failover tried a server and its fallbacks: unavailable if each of them was.
                return hosts.InnerExceptions.Count > 0 && hosts.InnerExceptions.All(e => IsServerUnavailable(e, callerToken));
            case NpgsqlException npgsql:
                return npgsql.InnerException is null or SocketException or IOException or TimeoutException or OperationCanceledException
                           or AuthenticationException
                       || npgsql.IsTransient;
            case SocketException or IOException or TimeoutException:
                return true;
            case AuthenticationException:
                // The TLS handshake failed (the server's certificate does not verify, say): this server cannot serve this data
                // source as configured, others may. Never retried in a weaker SSL mode.
                return true;
            default:
                return false;
        }
    }

    /// <summary>
    /// Whether an unavailable server's failure says only that it did not answer in time (a timeout on every host tried, or
    /// an attempt cancelled because its time ran out): a server that is slow, hung or unreachable by the network, not one
    /// that refused or ended the connection. Such a server is suspected rather than condemned (<see cref="ServerHealth"/>):
    /// under load every server can answer late at once.
    /// </summary>
    internal static bool IsSlowAnswer(Exception exception) => exception switch
    {
        TimeoutException or OperationCanceledException => true,
        NpgsqlException { InnerException: AggregateException hosts } =>
            hosts.InnerExceptions.Count > 0 && hosts.InnerExceptions.All(IsSlowAnswer),
        PostgresException => false,
        NpgsqlException { InnerException: { } inner } => IsSlowAnswer(inner),
        _ => false,
    };

    /// <summary>A one-line reason for messages: never the connection string.</summary>
    internal static string Describe(Exception exception)
    {
        if (exception is NpgsqlException { InnerException: AggregateException hosts } && hosts.InnerExceptions.Count > 0)
            return string.Join(", then ", hosts.InnerExceptions.Select(Describe));
        var inner = exception;
        while (inner is NpgsqlException { InnerException: { } next } && inner is not PostgresException)
            inner = next;
        if (inner is PostgresException pg)
            return $"{pg.SqlState}: {pg.MessageText}";
        // .NET's TLS errors say "see inner exception": the cause (an alert such as "unknown ca", a rejected certificate) is
        // at the bottom of the chain.
        var cause = inner;
        while (cause.InnerException is { } deeper)
            cause = deeper;
        return cause != inner && inner.Message.Contains("inner exception", StringComparison.OrdinalIgnoreCase)
            ? $"{inner.GetType().Name}: {inner.Message.Replace(", see inner exception", "", StringComparison.OrdinalIgnoreCase).TrimEnd('.')} ({cause.Message})"
            : $"{inner.GetType().Name}: {inner.Message}";
    }
}
