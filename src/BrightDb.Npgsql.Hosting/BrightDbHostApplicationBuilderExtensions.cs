using BrightDb.Npgsql;
using BrightDb.Npgsql.HealthChecks;
using BrightDb.Npgsql.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

// Extension methods on IHostApplicationBuilder live in its namespace, as Aspire's client integrations do.
namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Registers a <see cref="BrightDbDataSource"/> with everything a hosted application wants of it, in one call and in the
/// style of Aspire's <c>builder.AddNpgsqlDataSource("name")</c>.
/// </summary>
public static class BrightDbHostApplicationBuilderExtensions
{
    /// <summary>
    /// Registers, from the application's configuration:
    /// <list type="bullet">
    /// <item>the <see cref="BrightDbDataSource"/> and its connections, from <c>ConnectionStrings:&lt;name&gt;</c> and the
    /// driver's keywords of the section <c>BrightDb:&lt;name&gt;</c> (as
    /// <see cref="BrightDbConfigurationExtensions.AddBrightDbDataSource(IServiceCollection, IConfiguration, string, Action{IServiceProvider, BrightDbDataSourceBuilder}?, ServiceLifetime, ServiceLifetime, object?)"/>);</item>
    /// <item>its health check, named <c>brightdb_&lt;name&gt;</c> (Healthy, Degraded or Unhealthy as
    /// <see cref="HealthChecksBuilderExtensions.AddBrightDb"/> says), unless <see cref="BrightDbHostingSettings.DisableHealthChecks"/>;</item>
    /// <item>the driver's spans and Npgsql's in OpenTelemetry's tracing, unless <see cref="BrightDbHostingSettings.DisableTracing"/>;</item>
    /// <item>the driver's meter in OpenTelemetry's metrics, unless <see cref="BrightDbHostingSettings.DisableMetrics"/>.</item>
    /// </list>
    /// Exporters stay the application's to choose (<c>UseOtlpExporter()</c>, the console exporter, …).
    /// </summary>
    /// <param name="builder">The host's builder.</param>
    /// <param name="connectionName">The name of the connection string and of the section.</param>
    /// <param name="configureSettings">Changes the settings read from the section, or <see langword="null"/>.</param>
    /// <param name="configureDataSource">Further configuration of the data source, given the container that builds it, or <see langword="null"/>.</param>
    /// <param name="serviceKey">When not <see langword="null"/>, the data source and its connections are keyed services under this key, and the health check is named <c>brightdb_&lt;name&gt;</c> still.</param>
    /// <returns><paramref name="builder"/>, to chain further calls.</returns>
    /// <exception cref="InvalidOperationException">No connection string of that name, or a key of the section that is not a valid keyword or value (named, never with the password).</exception>
    public static IHostApplicationBuilder AddBrightDbDataSource(
        this IHostApplicationBuilder builder,
        string connectionName,
        Action<BrightDbHostingSettings>? configureSettings = null,
        Action<IServiceProvider, BrightDbDataSourceBuilder>? configureDataSource = null,
        object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionName);

        var section = builder.Configuration.GetSection($"{BrightDbConfigurationExtensions.SectionName}:{connectionName}");
        var settings = new BrightDbHostingSettings
        {
            DisableHealthChecks = Flag(section, nameof(BrightDbHostingSettings.DisableHealthChecks)),
            DisableTracing = Flag(section, nameof(BrightDbHostingSettings.DisableTracing)),
            DisableMetrics = Flag(section, nameof(BrightDbHostingSettings.DisableMetrics)),
        };
        configureSettings?.Invoke(settings);

        builder.Services.AddBrightDbDataSource(builder.Configuration, connectionName, configureDataSource, serviceKey: serviceKey);
        if (!settings.DisableHealthChecks)
            builder.Services.AddHealthChecks().AddBrightDb($"brightdb_{connectionName}", serviceKey);
        if (!settings.DisableTracing)
            builder.Services.AddOpenTelemetry().WithTracing(tracing => tracing.AddBrightDbInstrumentation());
        if (!settings.DisableMetrics)
            builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics.AddBrightDbInstrumentation());
        return builder;
    }

    static bool Flag(IConfigurationSection section, string key) =>
        section[key] is not { } value ? false
        : bool.TryParse(value, out var flag) ? flag
        : throw new InvalidOperationException($"{section.Path}:{key}: '{value}' is not true or false.");
}
