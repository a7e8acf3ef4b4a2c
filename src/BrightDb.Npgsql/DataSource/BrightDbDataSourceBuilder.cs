using Microsoft.Extensions.Logging;
using Npgsql;
using Npgsql.TypeMapping;

namespace BrightDb.Npgsql;

/// <summary>
/// Configures and builds a <see cref="BrightDbDataSource"/>, as <see cref="NpgsqlDataSourceBuilder"/> does for Npgsql.
/// It is an <see cref="INpgsqlTypeMapper"/> like Npgsql's builder, so <c>MapEnum</c>, <c>MapComposite</c> and plugins
/// (<c>UseNodaTime()</c>, <c>UseNetTopologySuite()</c>, <c>UseVector()</c>, …) are called on it directly: each mapping
/// applies to every server's data source.
/// </summary>
public sealed partial class BrightDbDataSourceBuilder : INpgsqlTypeMapper
{
    Action<NpgsqlDataSourceBuilder>? _configureNpgsql;
    ILoggerFactory? _loggerFactory;
    TimeProvider _timeProvider = TimeProvider.System;

    /// <summary>Creates a builder from a connection string in ADO.NET, libpq or URI form (or none, to fill <see cref="ConnectionStringBuilder"/>).</summary>
    /// <exception cref="ArgumentException">The string is malformed or holds an unknown keyword or an invalid value.</exception>
    public BrightDbDataSourceBuilder(string? connectionString = null)
    {
        ConnectionStringBuilder = connectionString is null ? new BrightDbConnectionStringBuilder() : new BrightDbConnectionStringBuilder(connectionString);
    }

    /// <summary>Creates a builder from keyword/value pairs (psycopg2's keyword-argument form).</summary>
    /// <exception cref="ArgumentException">An unknown keyword or an invalid value.</exception>
    public BrightDbDataSourceBuilder(IReadOnlyDictionary<string, object?> properties)
    {
        ConnectionStringBuilder = new BrightDbConnectionStringBuilder(properties);
    }

    /// <summary>The connection properties; change them before <see cref="Build"/>.</summary>
    public BrightDbConnectionStringBuilder ConnectionStringBuilder { get; }

    /// <summary>The data source's name (it prefixes each server's pool name and tags logs and metrics); generated when not set.</summary>
    public string? Name { get; set; }

    /// <summary>Sends the driver's logs, and Npgsql's, to <paramref name="loggerFactory"/>.</summary>
    public BrightDbDataSourceBuilder UseLoggerFactory(ILoggerFactory? loggerFactory)
    {
        _loggerFactory = loggerFactory;
        return this;
    }

    /// <summary>
    /// Configures every per-server Npgsql data source (type mappings, plugins, callbacks, TLS settings, …).
    /// Runs once per server, when its pool is created; several calls run in order.
    /// </summary>
    public BrightDbDataSourceBuilder ConfigureNpgsql(Action<NpgsqlDataSourceBuilder> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        _configureNpgsql += configure;
        return this;
    }

    /// <summary>
    /// The clock of every time rule of the driver (refresh intervals, reconnect delays, the connect gate's timeout, hedge
    /// rounds); <see cref="TimeProvider.System"/> by default (tests pass a fake one). Npgsql's own timeouts keep the system clock.
    /// </summary>
    public BrightDbDataSourceBuilder UseTimeProvider(TimeProvider timeProvider)
    {
        _timeProvider = timeProvider ?? throw new ArgumentNullException(nameof(timeProvider));
        return this;
    }

    /// <summary>Builds the data source. No connection is made until the first open.</summary>
    /// <exception cref="ArgumentException">The properties are inconsistent (no host, topology keys with balancing off, a
    /// password together with a periodic password provider, …).</exception>
    public BrightDbDataSource Build()
    {
        if (_periodicPassword is not null && !string.IsNullOrEmpty(ConnectionStringBuilder.Password))
            throw new ArgumentException("Password is set and so is a periodic password provider: give the password one way only.", nameof(ConnectionStringBuilder));
        var settings = ConnectionStrings.BrightDbSettings.From(ConnectionStringBuilder);
        var typeMappings = _typeMappings;
        var configure = _configureNpgsql;
        var password = _periodicPassword is var (provider, success, failure)
            ? new PeriodicPassword(provider, new NpgsqlConnectionStringBuilder(settings.NpgsqlConnectionString(includePassword: false)), success, failure, _timeProvider)
            : null;
        // Without a provider of the application's, the password is one the data source can change (BrightDbDataSource.Password).
        var settable = password is null && !_passwordProviderSet ? new SettablePassword(settings.Password) : null;
        Action<NpgsqlDataSourceBuilder>? configureEach = builder =>
        {
            typeMappings?.Invoke(builder);
            if (password is not null)
                builder.UsePasswordProvider(_ => password.Get(), (_, cancellationToken) => password.GetAsync(cancellationToken));
            settable?.ApplyTo(builder);
            configure?.Invoke(builder);
        };
        var dataSource = new BrightDbDataSource(settings, Name, _loggerFactory, configureEach, _timeProvider) { SettablePassword = settable };
        if (password is not null)
        {
            dataSource.Own(password);
            password.Start();
        }

        return dataSource;
    }
}
