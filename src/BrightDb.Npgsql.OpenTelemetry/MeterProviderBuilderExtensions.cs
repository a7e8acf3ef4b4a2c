// Extension methods on MeterProviderBuilder live in its namespace, as OpenTelemetry's own instrumentation packages do.
namespace OpenTelemetry.Metrics;

/// <summary>Adds the BrightDB smart driver's metrics to an OpenTelemetry <see cref="MeterProviderBuilder"/>.</summary>
public static class BrightDbMeterProviderBuilderExtensions
{
    /// <summary>The name of the driver's meter.</summary>
    public const string MeterName = "BrightDb.Npgsql";

    /// <summary>
    /// Subscribes the provider to the meter <c>BrightDb.Npgsql</c>: connections per server (observable), opens per server,
    /// failovers, hosts marked down, topology refreshes and their duration, each tagged with its data source and server.
    /// </summary>
    /// <remarks>Npgsql's own metrics (meter <c>Npgsql</c>, per server pool) are added by <c>Npgsql.OpenTelemetry</c>'s <c>AddNpgsqlInstrumentation()</c>.</remarks>
    /// <param name="builder">The builder to configure.</param>
    /// <returns><paramref name="builder"/>, to chain further calls.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    public static MeterProviderBuilder AddBrightDbInstrumentation(this MeterProviderBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddMeter(MeterName);
    }
}
