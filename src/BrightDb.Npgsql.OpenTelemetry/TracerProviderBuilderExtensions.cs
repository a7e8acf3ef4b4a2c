// Extension methods on TracerProviderBuilder live in its namespace, as OpenTelemetry's own instrumentation packages do.
namespace OpenTelemetry.Trace;

/// <summary>Adds the BrightDB smart driver's spans, and Npgsql's, to an OpenTelemetry <see cref="TracerProviderBuilder"/>.</summary>
public static class BrightDbTracerProviderBuilderExtensions
{
    /// <summary>The name of the driver's activity source.</summary>
    public const string ActivitySourceName = "BrightDb.Npgsql";

    /// <summary>The name of Npgsql's activity source (its command spans).</summary>
    public const string NpgsqlActivitySourceName = "Npgsql";

    /// <summary>
    /// Subscribes the provider to the driver's spans (source <c>BrightDb.Npgsql</c>: <c>brightdb.discovery</c> and
    /// <c>brightdb.refresh</c> for each read of <c>yb_servers()</c>, <c>brightdb.failover</c> for each server an open gave up,
    /// <c>brightdb.hedge</c> for each race against a server suspected of hanging, tagged with <c>server.address</c>,
    /// <c>server.port</c> and <c>brightdb.placement</c>) and to Npgsql's command spans (source <c>Npgsql</c>).
    /// </summary>
    /// <param name="builder">The builder to configure.</param>
    /// <returns><paramref name="builder"/>, to chain further calls.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    public static TracerProviderBuilder AddBrightDbInstrumentation(this TracerProviderBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddSource(ActivitySourceName, NpgsqlActivitySourceName);
    }
}
