using BrightDb.Npgsql.Balancing;
using BrightDb.Npgsql.ConnectionStrings;
using BrightDb.Npgsql.Topology;
using Npgsql;

namespace BrightDb.Npgsql.Opening;

/// <summary>
/// What one open has tried so far: the servers not to choose again, and why each failed. It also words the error an
/// open ends with when no server is left, listing each server and why it was not used.
/// </summary>
/// <remarks>Only an open that failed somewhere pays for this record; one that succeeds at once never creates it.</remarks>
sealed class OpenFailures
{
    internal HashSet<ServerEndpoint> Tried { get; } = [];

    internal List<(ServerEndpoint Server, Exception Error)> Errors { get; } = [];

    internal void Add(ServerEndpoint server, Exception error)
    {
        Tried.Add(server);
        Errors.Add((server, error));
    }

    /// <summary>The error of an open that found no server to use: each server tried and why it failed, each skipped and why.</summary>
    /// <param name="state">The snapshot the open used.</param>
    /// <param name="openFailures">What the open tried, if anything.</param>
    /// <param name="settings">The data source's settings, for the wording.</param>
    /// <param name="timeoutSpent">The open stopped because its <c>Timeout</c> was spent.</param>
    internal static NpgsqlException NoServerAvailable(ClusterState state, OpenFailures? openFailures, BrightDbSettings settings, bool timeoutSpent = false)
    {
        var reason = state.Plan.EmptyReason;
        var failures = openFailures?.Errors;
        var parts = new List<string>();
        if (failures is not null)
            parts.AddRange(failures.Select(f => Describe(f.Server, f.Error)));
        if (!timeoutSpent)
        {
            foreach (var server in state.Plan.Candidates.Where(s => failures?.Any(f => f.Server == s) != true))
                parts.Add($"{server}: skipped, marked down after: {server.LastFailure ?? "an earlier failure"}");
        }

        var message = reason is not null
            ? $"No server to connect to: {reason}."
            : timeoutSpent
                ? $"No server of the cluster could be reached within Timeout ({settings.ConnectTimeout.TotalSeconds} s). " + string.Join("; ", parts)
                : settings.FallbackToTopologyKeysOnly && settings.TopologyKeys.Count > 0
                    ? $"No server matching Topology Keys '{string.Join(",", settings.TopologyKeys)}' is available, and Fallback To Topology Keys Only is true. "
                      + string.Join("; ", parts)
                    : $"No server of the cluster could be reached ({settings.LoadBalance}). " + string.Join("; ", parts);
        var inner = failures switch
        {
            { Count: 1 } => failures[0].Error,
            { Count: > 1 } => new AggregateException(failures.Select(f => f.Error)),
            _ => null,
        };
        return new NpgsqlException(message, inner);
    }

    /// <summary>
    /// Why an attempt on <paramref name="server"/> failed. When Npgsql's failover within the attempt tried the server's whole
    /// host list, each host is named with its own error.
    /// </summary>
    static string Describe(ServerEndpoint server, Exception error)
    {
        if (error is NpgsqlException { InnerException: AggregateException hosts } && hosts.InnerExceptions.Count == 1 + server.Fallbacks.Count)
        {
            return string.Join(", then ", hosts.InnerExceptions.Select((e, i) =>
                $"{(i == 0 ? server.Address : server.Fallbacks[i - 1])}: {FailureClassifier.Describe(e)}"));
        }

        return $"{server}: {FailureClassifier.Describe(error)}";
    }
}
