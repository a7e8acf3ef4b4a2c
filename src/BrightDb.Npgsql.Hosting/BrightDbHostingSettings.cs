namespace BrightDb.Npgsql.Hosting;

/// <summary>
/// What <see cref="Microsoft.Extensions.Hosting.BrightDbHostApplicationBuilderExtensions.AddBrightDbDataSource"/> registers
/// besides the data source. Read from the configuration section <c>BrightDb:&lt;name&gt;</c> (keys
/// <c>DisableHealthChecks</c>, <c>DisableTracing</c>, <c>DisableMetrics</c>), then given to the caller's delegate.
/// </summary>
public sealed class BrightDbHostingSettings
{
    /// <summary>When <see langword="true"/>, no health check is registered; otherwise <c>brightdb_&lt;name&gt;</c> is.</summary>
    public bool DisableHealthChecks { get; set; }

    /// <summary>When <see langword="true"/>, the driver's and Npgsql's spans are not added to OpenTelemetry's tracing.</summary>
    public bool DisableTracing { get; set; }

    /// <summary>When <see langword="true"/>, the driver's meter is not added to OpenTelemetry's metrics.</summary>
    public bool DisableMetrics { get; set; }
}
