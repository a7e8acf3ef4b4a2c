using System.Globalization;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;

namespace BrightDb.Npgsql.HealthChecks;

/// <summary>
/// The health of one <see cref="BrightDbDataSource"/>'s cluster. Each check opens one balanced connection and runs
/// <c>SELECT 1</c> (as a request would): when that fails, no server answers and the result is the registration's failure
/// status (Unhealthy by default). Otherwise it reads the data source's view of each server
/// (<see cref="BrightDbDataSource.GetServerStates"/>): Degraded when some server is marked down or none of the most
/// preferred servers (topology keys' first level, node type) is up; Healthy otherwise. The result's data lists each
/// server (<c>host:port</c>) with its state, placement and connections; never a password.
/// </summary>
sealed class BrightDbHealthCheck(BrightDbDataSource dataSource) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await using (connection.ConfigureAwait(false))
            {
                var command = new NpgsqlCommand("SELECT 1", connection);
                await using (command.ConfigureAwait(false))
                {
                    await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
                }
            }
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            return new HealthCheckResult(
                context.Registration.FailureStatus, $"No server of the cluster answered: {e.Message}", e, Data(dataSource.GetServerStates()));
        }

        var servers = dataSource.GetServerStates();
        var data = Data(servers);
        var down = servers.Where(s => s.IsMarkedDown).ToList();
        if (down.Count > 0)
        {
            return HealthCheckResult.Degraded(
                $"{down.Count} of {servers.Count} servers marked down: {string.Join(", ", down.Select(s => $"{s.Host}:{s.Port.ToString(CultureInfo.InvariantCulture)}"))}",
                data: data);
        }

        if (servers.Count > 0 && !servers.Any(s => s.IsPreferred))
            return HealthCheckResult.Degraded("No preferred server (topology keys' first level, node type chosen first) is in the cluster: connections go to the next ones.", data: data);

        return HealthCheckResult.Healthy($"{servers.Count} servers up.", data);
    }

    static Dictionary<string, object> Data(IReadOnlyList<BrightDbServerState> servers) =>
        servers.ToDictionary(
            s => $"{s.Host}:{s.Port.ToString(CultureInfo.InvariantCulture)}",
            s => (object)string.Create(CultureInfo.InvariantCulture,
                $"{(s.IsMarkedDown ? $"down ({s.LastFailure})" : "up")}; {s.Connections} connections; {s.Server?.Placement ?? "not reported by yb_servers()"}{(s.IsPreferred ? "; preferred" : "")}"),
            StringComparer.Ordinal);
}
