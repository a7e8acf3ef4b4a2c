using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace BrightDb.Npgsql.HealthChecks;

/// <summary>Registers the health check of a <see cref="BrightDbDataSource"/> (<c>services.AddHealthChecks().AddBrightDb()</c>).</summary>
public static class HealthChecksBuilderExtensions
{
    /// <summary>
    /// Adds a health check of the <see cref="BrightDbDataSource"/> registered in the container (for example by
    /// <c>AddBrightDbDataSource</c>): Healthy when every server is up, Degraded when some are marked down or none of the
    /// most preferred ones is available, <paramref name="failureStatus"/> (Unhealthy by default) when no server answers a
    /// <c>SELECT 1</c>. The result's data lists each server with its state, placement and connections.
    /// </summary>
    /// <param name="builder">The health checks builder.</param>
    /// <param name="name">The check's name; <c>"brightdb"</c> by default.</param>
    /// <param name="dataSourceKey">The key the data source was registered under, or <see langword="null"/> for the unkeyed one.</param>
    /// <param name="failureStatus">The status when no server answers; <see cref="HealthStatus.Unhealthy"/> when <see langword="null"/>.</param>
    /// <param name="tags">Tags to filter checks by (for example on separate readiness and liveness endpoints).</param>
    /// <param name="timeout">How long the check may take; none when <see langword="null"/> (the data source's <c>Timeout</c> bounds the open).</param>
    /// <returns><paramref name="builder"/>, to chain further calls.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    public static IHealthChecksBuilder AddBrightDb(
        this IHealthChecksBuilder builder,
        string name = "brightdb",
        object? dataSourceKey = null,
        HealthStatus? failureStatus = null,
        IEnumerable<string>? tags = null,
        TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.Add(new HealthCheckRegistration(
            name,
            services => new BrightDbHealthCheck(dataSourceKey is null
                ? services.GetRequiredService<BrightDbDataSource>()
                : services.GetRequiredKeyedService<BrightDbDataSource>(dataSourceKey)),
            failureStatus,
            tags,
            timeout));
    }
}
