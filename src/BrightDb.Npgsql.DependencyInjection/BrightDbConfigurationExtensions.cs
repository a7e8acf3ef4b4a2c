using BrightDb.Npgsql;
using Microsoft.Extensions.Configuration;

// Extension methods on IServiceCollection live in its namespace, so that they are found without a using directive.
namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Registers a <see cref="BrightDbDataSource"/> from configuration, in the style of Aspire's
/// <c>builder.AddNpgsqlDataSource("name")</c>: the connection string <c>ConnectionStrings:&lt;name&gt;</c>, then the
/// driver's keywords from the section <c>BrightDb:&lt;name&gt;</c>.
/// </summary>
public static class BrightDbConfigurationExtensions
{
    /// <summary>The configuration section whose sub-section <c>&lt;name&gt;</c> holds the driver's keywords of a connection.</summary>
    public const string SectionName = "BrightDb";

    /// <summary>Keys of the section that are not connection keywords: the switches of <c>BrightDb.Npgsql.Hosting</c>'s <c>AddBrightDbDataSource</c>.</summary>
    static readonly HashSet<string> HostingKeys = new(StringComparer.OrdinalIgnoreCase) { "DisableHealthChecks", "DisableTracing", "DisableMetrics" };

    /// <summary>
    /// Registers a <see cref="BrightDbDataSource"/> and its connections (as
    /// <see cref="BrightDbServiceCollectionExtensions.AddBrightDbDataSource(IServiceCollection, string, Action{IServiceProvider, BrightDbDataSourceBuilder}, ServiceLifetime, ServiceLifetime, object?)"/>
    /// does) from <paramref name="configuration"/>: the connection string <c>ConnectionStrings:&lt;name&gt;</c> (or
    /// <c>BrightDb:&lt;name&gt;:ConnectionString</c>), and every other key of the section <c>BrightDb:&lt;name&gt;</c> as a
    /// connection keyword that overrides it (except <c>DisableHealthChecks</c>, <c>DisableTracing</c> and <c>DisableMetrics</c>,
    /// read by the host builder's <c>AddBrightDbDataSource</c> of the package <c>BrightDb.Npgsql.Hosting</c>), for example in
    /// <c>appsettings.json</c>:
    /// <code>
    /// "ConnectionStrings": { "cluster": "Host=10.0.0.1;Database=bigmath;Username=bigmath" },
    /// "BrightDb": { "cluster": { "Load Balance Hosts": "true", "Topology Keys": "aws.us-west.us-west-2a" } }
    /// </code>
    /// Keep the password out of files: an environment variable (<c>BrightDb__cluster__Password</c>) or a secret store
    /// fills the same key. The configuration is read when this method is called.
    /// </summary>
    /// <param name="services">The collection to add the services to.</param>
    /// <param name="configuration">The application's configuration.</param>
    /// <param name="connectionName">The name of the connection string and of the section.</param>
    /// <param name="configure">Further configuration of the data source, given the container that builds it, or <see langword="null"/>.</param>
    /// <param name="connectionLifetime">The lifetime of the connections; transient by default.</param>
    /// <param name="dataSourceLifetime">The lifetime of the data source; singleton by default.</param>
    /// <param name="serviceKey">When not <see langword="null"/>, every service is registered as a keyed service under this key.</param>
    /// <returns><paramref name="services"/>, to chain further calls.</returns>
    /// <exception cref="InvalidOperationException">No connection string of that name, or a key of the section that is not a valid keyword or value (named, never with the password).</exception>
    public static IServiceCollection AddBrightDbDataSource(
        this IServiceCollection services,
        IConfiguration configuration,
        string connectionName,
        Action<IServiceProvider, BrightDbDataSourceBuilder>? configure = null,
        ServiceLifetime connectionLifetime = ServiceLifetime.Transient,
        ServiceLifetime dataSourceLifetime = ServiceLifetime.Singleton,
        object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionName);

        var sectionPath = $"{SectionName}:{connectionName}";
        var section = configuration.GetSection(sectionPath);
        var connectionString = configuration.GetConnectionString(connectionName) ?? section["ConnectionString"];
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new InvalidOperationException(
                $"No connection string named '{connectionName}' in the configuration: set ConnectionStrings:{connectionName} (or {sectionPath}:ConnectionString).");
        }

        BrightDbConnectionStringBuilder builder;
        try
        {
            builder = new BrightDbConnectionStringBuilder(connectionString);
        }
        catch (ArgumentException e)
        {
            throw new InvalidOperationException($"ConnectionStrings:{connectionName}: {e.Message}", e);
        }

        foreach (var entry in section.GetChildren())
        {
            if (string.Equals(entry.Key, "ConnectionString", StringComparison.OrdinalIgnoreCase) || HostingKeys.Contains(entry.Key))
                continue;
            if (entry.Value is null)
                throw new InvalidOperationException($"{sectionPath}:{entry.Key}: a connection keyword takes a value, not a section.");
            try
            {
                builder[entry.Key] = entry.Value;
            }
            catch (ArgumentException e)
            {
                throw new InvalidOperationException($"{sectionPath}:{entry.Key}: {e.Message}", e);
            }
        }

        // Values the driver checks only as a whole (Npgsql's, and keywords that depend on each other) fail here rather than
        // when the data source is first resolved. Building opens no connection.
        try
        {
            using var probe = new BrightDbDataSourceBuilder(builder.ConnectionString).Build();
        }
        catch (ArgumentException e)
        {
            throw new InvalidOperationException($"ConnectionStrings:{connectionName} with {sectionPath}: {e.Message}", e);
        }

        return services.AddBrightDbDataSource(builder.ConnectionString, configure ?? (static (_, _) => { }), connectionLifetime, dataSourceLifetime, serviceKey);
    }
}
