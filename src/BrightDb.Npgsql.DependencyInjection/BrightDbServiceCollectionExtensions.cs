using System.Data.Common;
using BrightDb.Npgsql;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Npgsql;

// Extension methods on IServiceCollection live in its namespace, so that they are found without a using directive.
namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Registers a <see cref="BrightDbDataSource"/> and its connections in an <see cref="IServiceCollection"/>, following
/// the conventions of Npgsql's <c>AddNpgsqlDataSource</c>.
/// </summary>
public static class BrightDbServiceCollectionExtensions
{
    /// <summary>
    /// Registers a <see cref="BrightDbDataSource"/> (also as <see cref="DbDataSource"/>) and connections created from it
    /// (<see cref="NpgsqlConnection"/> and <see cref="DbConnection"/>). The data source takes the container's
    /// <see cref="ILoggerFactory"/>, when one is registered, before <paramref name="configure"/> runs.
    /// </summary>
    /// <remarks>
    /// A connection resolved from the container is created with <see cref="BrightDbDataSource.CreateConnection"/>:
    /// closed, its server chosen by the balancer when it is created, and counted once it is opened. Resolving
    /// <see cref="BrightDbDataSource"/> and calling <see cref="BrightDbDataSource.OpenConnectionAsync"/> chooses and counts in
    /// one step, and is the better choice when the code can take the data source. A service already registered for one of
    /// these types (under the same key) is left as it is.
    /// </remarks>
    /// <param name="services">The collection to add the services to.</param>
    /// <param name="connectionString">A connection string in ADO.NET, libpq or URI form, with this driver's keywords.</param>
    /// <param name="configure">Further configuration of the data source (name, Npgsql settings, time provider), or <see langword="null"/>.</param>
    /// <param name="connectionLifetime">The lifetime of <see cref="NpgsqlConnection"/> and <see cref="DbConnection"/>; transient by default.</param>
    /// <param name="dataSourceLifetime">The lifetime of <see cref="BrightDbDataSource"/> and <see cref="DbDataSource"/>; singleton by default.</param>
    /// <param name="serviceKey">
    /// When not <see langword="null"/>, every service is registered as a keyed service under this key (resolve them with
    /// <c>[FromKeyedServices(key)]</c> or <c>GetRequiredKeyedService</c>), so that several clusters can be registered.
    /// </param>
    /// <returns><paramref name="services"/>, to chain further calls.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> or <paramref name="connectionString"/> is <see langword="null"/>.</exception>
    public static IServiceCollection AddBrightDbDataSource(
        this IServiceCollection services,
        string connectionString,
        Action<BrightDbDataSourceBuilder>? configure = null,
        ServiceLifetime connectionLifetime = ServiceLifetime.Transient,
        ServiceLifetime dataSourceLifetime = ServiceLifetime.Singleton,
        object? serviceKey = null) =>
        services.AddBrightDbDataSource(
            connectionString, configure is null ? static (_, _) => { } : (_, builder) => configure(builder), connectionLifetime, dataSourceLifetime, serviceKey);

    /// <summary>
    /// Registers a <see cref="BrightDbDataSource"/> and its connections as the other overload does, with a
    /// <paramref name="configure"/> that is given the container, to take services from it (options, a password provider,
    /// a time provider, …) when the data source is built.
    /// </summary>
    /// <param name="services">The collection to add the services to.</param>
    /// <param name="connectionString">A connection string in ADO.NET, libpq or URI form, with this driver's keywords.</param>
    /// <param name="configure">Further configuration of the data source, given the container that builds it.</param>
    /// <param name="connectionLifetime">The lifetime of <see cref="NpgsqlConnection"/> and <see cref="DbConnection"/>; transient by default.</param>
    /// <param name="dataSourceLifetime">The lifetime of <see cref="BrightDbDataSource"/> and <see cref="DbDataSource"/>; singleton by default.</param>
    /// <param name="serviceKey">When not <see langword="null"/>, every service is registered as a keyed service under this key.</param>
    /// <returns><paramref name="services"/>, to chain further calls.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/>, <paramref name="connectionString"/> or <paramref name="configure"/> is <see langword="null"/>.</exception>
    public static IServiceCollection AddBrightDbDataSource(
        this IServiceCollection services,
        string connectionString,
        Action<IServiceProvider, BrightDbDataSourceBuilder> configure,
        ServiceLifetime connectionLifetime = ServiceLifetime.Transient,
        ServiceLifetime dataSourceLifetime = ServiceLifetime.Singleton,
        object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(connectionString);
        ArgumentNullException.ThrowIfNull(configure);

        if (serviceKey is null)
        {
            services.TryAdd(new ServiceDescriptor(
                typeof(BrightDbDataSource), sp => Build(sp, connectionString, configure), dataSourceLifetime));
            services.TryAdd(new ServiceDescriptor(
                typeof(DbDataSource), sp => sp.GetRequiredService<BrightDbDataSource>(), dataSourceLifetime));
            services.TryAdd(new ServiceDescriptor(
                typeof(NpgsqlConnection), sp => sp.GetRequiredService<BrightDbDataSource>().CreateConnection(), connectionLifetime));
            services.TryAdd(new ServiceDescriptor(
                typeof(DbConnection), sp => sp.GetRequiredService<NpgsqlConnection>(), connectionLifetime));
        }
        else
        {
            services.TryAdd(new ServiceDescriptor(
                typeof(BrightDbDataSource), serviceKey, (sp, _) => Build(sp, connectionString, configure), dataSourceLifetime));
            services.TryAdd(new ServiceDescriptor(
                typeof(DbDataSource), serviceKey, (sp, key) => sp.GetRequiredKeyedService<BrightDbDataSource>(key), dataSourceLifetime));
            services.TryAdd(new ServiceDescriptor(
                typeof(NpgsqlConnection), serviceKey,
                (sp, key) => sp.GetRequiredKeyedService<BrightDbDataSource>(key).CreateConnection(), connectionLifetime));
            services.TryAdd(new ServiceDescriptor(
                typeof(DbConnection), serviceKey, (sp, key) => sp.GetRequiredKeyedService<NpgsqlConnection>(key), connectionLifetime));
        }

        return services;
    }

    /// <summary>
    /// Registers, under <paramref name="viewKey"/>, a view of a registered <see cref="BrightDbDataSource"/> that chooses
    /// servers by <paramref name="mode"/> (<see cref="BrightDbDataSource.WithLoadBalance"/>): keyed
    /// <see cref="BrightDbDataSource"/> and <see cref="DbDataSource"/> (the view) and keyed <see cref="NpgsqlConnection"/>
    /// and <see cref="DbConnection"/> created from it. For a read/write split from one configuration, register the data
    /// source once and a view for reads and one for writes; they share its topology, counts and pools.
    /// </summary>
    /// <param name="services">The collection to add the services to.</param>
    /// <param name="viewKey">The key of the view's services, e.g. <c>"reads"</c>.</param>
    /// <param name="mode">How the view chooses servers, e.g. <see cref="LoadBalanceMode.OnlyReadReplica"/>.</param>
    /// <param name="dataSourceKey">The key the data source was registered under, or <see langword="null"/> for the unkeyed one.</param>
    /// <param name="connectionLifetime">The lifetime of the view's <see cref="NpgsqlConnection"/> and <see cref="DbConnection"/>; transient by default.</param>
    /// <returns><paramref name="services"/>, to chain further calls.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> or <paramref name="viewKey"/> is <see langword="null"/>.</exception>
    public static IServiceCollection AddBrightDbDataSourceView(
        this IServiceCollection services,
        object viewKey,
        LoadBalanceMode mode,
        object? dataSourceKey = null,
        ServiceLifetime connectionLifetime = ServiceLifetime.Transient)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(viewKey);
        // The view belongs to its data source, which the container disposes; disposing a view does nothing.
        services.TryAdd(new ServiceDescriptor(
            typeof(BrightDbDataSource), viewKey,
            (sp, _) => (dataSourceKey is null ? sp.GetRequiredService<BrightDbDataSource>() : sp.GetRequiredKeyedService<BrightDbDataSource>(dataSourceKey))
                .WithLoadBalance(mode),
            ServiceLifetime.Singleton));
        services.TryAdd(new ServiceDescriptor(
            typeof(DbDataSource), viewKey, (sp, key) => sp.GetRequiredKeyedService<BrightDbDataSource>(key), ServiceLifetime.Singleton));
        services.TryAdd(new ServiceDescriptor(
            typeof(NpgsqlConnection), viewKey, (sp, key) => sp.GetRequiredKeyedService<BrightDbDataSource>(key).CreateConnection(), connectionLifetime));
        services.TryAdd(new ServiceDescriptor(
            typeof(DbConnection), viewKey, (sp, key) => sp.GetRequiredKeyedService<NpgsqlConnection>(key), connectionLifetime));
        return services;
    }

    static BrightDbDataSource Build(IServiceProvider services, string connectionString, Action<IServiceProvider, BrightDbDataSourceBuilder> configure)
    {
        var builder = new BrightDbDataSourceBuilder(connectionString);
        builder.UseLoggerFactory(services.GetService<ILoggerFactory>());
        configure(services, builder);
        return builder.Build();
    }
}
