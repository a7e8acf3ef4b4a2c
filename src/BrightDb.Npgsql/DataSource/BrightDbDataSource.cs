using System.Data.Common;
using BrightDb.Npgsql.Balancing;
using BrightDb.Npgsql.ConnectionStrings;
using BrightDb.Npgsql.DataSource;
using BrightDb.Npgsql.Opening;
using BrightDb.Npgsql.Pooling;
using BrightDb.Npgsql.Topology;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace BrightDb.Npgsql;

/// <summary>
/// The pool and the balancer for one BrightDB cluster. It learns the cluster's servers from <c>yb_servers()</c>,
/// keeps one Npgsql pool per server, and hands out real <see cref="NpgsqlConnection"/>s opened on the least-loaded
/// eligible server, preferring the placements of <c>Topology Keys</c> and skipping servers that failed.
/// </summary>
/// <remarks>
/// Create one per cluster and user and keep it for the application's lifetime, as with <see cref="NpgsqlDataSource"/>.
/// All of its state (counts, pools, topology) is its own: two data sources never share anything.
/// With <c>Load Balance Hosts=false</c> it is a thin wrapper over a plain Npgsql data source (<see cref="PlainOpener"/>);
/// otherwise <see cref="BalancedOpener"/> discovers, chooses, fails over and hedges.
/// </remarks>
public sealed class BrightDbDataSource : DbDataSource
{
    static long _lastId;

    readonly BrightDbSettings _settings;
    readonly IConnectionOpener _opener;
    /// <summary>The data source a view belongs to; <see langword="null"/> for a data source itself.</summary>
    readonly BrightDbDataSource? _root;
    readonly LoadBalanceMode _mode;
    /// <summary>The views made by <see cref="WithLoadBalance"/>, by mode (a data source's only).</summary>
    BrightDbDataSource?[]? _views;
    int _disposed;
    /// <summary>What the data source ends with it (the periodic password provider).</summary>
    IAsyncDisposable[] _owned = [];

    internal BrightDbDataSource(
        BrightDbSettings settings, string? name, ILoggerFactory? loggerFactory, Action<NpgsqlDataSourceBuilder>? configureNpgsql, TimeProvider time)
    {
        _settings = settings;
        _mode = settings.LoadBalance;
        Name = name ?? $"brightdb-{Interlocked.Increment(ref _lastId)}";
        loggerFactory ??= NullLoggerFactory.Instance;
        var dataSources = new NpgsqlDataSourceFactory(settings, Name, loggerFactory, configureNpgsql);
        _opener = settings.LoadBalance == LoadBalanceMode.Disabled
            ? new PlainOpener(dataSources.Plain())
            : new BalancedOpener(settings, Name, time, loggerFactory, dataSources, new BrightDbDataSourceEvents(
                (server, reason) => HostMarkedDown?.Invoke(this, new ServerStatusEventArgs(server.Address.Host, server.Address.Port, reason)),
                server => HostMarkedUp?.Invoke(this, new ServerStatusEventArgs(server.Address.Host, server.Address.Port, null)),
                (old, @new) => TopologyChanged?.Invoke(this, new TopologyChangedEventArgs(old, @new))));
        DataSourceRegistry.Add(this);
    }

    /// <summary>A view of <paramref name="root"/> that chooses servers by <paramref name="mode"/>.</summary>
    BrightDbDataSource(BrightDbDataSource root, LoadBalanceMode mode, BalancedOpener opener)
    {
        _settings = root._settings;
        _root = root;
        _mode = mode;
        Name = root.Name;
        _opener = new BalancedView(opener, mode);
    }

    /// <summary>Creates a data source from a connection string in ADO.NET, libpq or URI form.</summary>
    /// <exception cref="ArgumentException">The string is malformed or holds an unknown keyword or an invalid value.</exception>
    public static BrightDbDataSource Create(string connectionString) => new BrightDbDataSourceBuilder(connectionString).Build();

    /// <summary>Creates a data source from keyword/value pairs (psycopg2's keyword-argument form).</summary>
    /// <exception cref="ArgumentException">An unknown keyword or an invalid value.</exception>
    public static BrightDbDataSource Create(IReadOnlyDictionary<string, object?> properties) => new BrightDbDataSourceBuilder(properties).Build();

    /// <summary>The data source's name: it prefixes the name of each server's Npgsql pool, and tags logs and metrics.</summary>
    public string Name { get; }

    /// <summary>How connections are balanced.</summary>
    public LoadBalanceMode LoadBalanceHosts => _mode;

    /// <summary>
    /// An Npgsql connection string for the listed hosts, without this driver's keywords and without the password
    /// (unless <c>Persist Security Info=true</c>), as <see cref="NpgsqlDataSource.ConnectionString"/>.
    /// </summary>
    public override string ConnectionString => _settings.NpgsqlConnectionString(includePassword: false);

    /// <summary>The last snapshot learned from <c>yb_servers()</c>; <see langword="null"/> before the first connection or when balancing is off.</summary>
    public ClusterTopology? Topology => _opener.Topology;

    /// <summary>Raised after a refresh found a different set of servers. Handlers run on the refreshing thread: keep them short.</summary>
    public event EventHandler<TopologyChangedEventArgs>? TopologyChanged;

    /// <summary>Raised when a server that was up fails and is skipped for <c>Failed Host Reconnect Delay Secs</c>.</summary>
    public event EventHandler<ServerStatusEventArgs>? HostMarkedDown;

    /// <summary>Raised when a server that was marked down answers again.</summary>
    public event EventHandler<ServerStatusEventArgs>? HostMarkedUp;

    /// <summary>
    /// Creates a closed connection to a server chosen now by the balancer (the least loaded eligible one); it is counted
    /// when opened, on the server it reached. Its <c>Open</c>/<c>OpenAsync</c> fails over within that one call: a server
    /// that refuses, or whose idle connection fails its check, is passed over for the next best ones and marked down.
    /// This is the path of EF Core, Dapper on a closed connection and DI-registered connections. The first call on a new
    /// data source waits for the cluster to be discovered (as the first open does), so that even the first connection
    /// honours topology keys and node types.
    /// </summary>
    /// <exception cref="NpgsqlException">The cluster could not be discovered: no listed host answered.</exception>
    public new NpgsqlConnection CreateConnection()
    {
        ThrowIfDisposed();
        return _opener.CreateConnection();
    }

    /// <summary>
    /// Creates a command that opens its own connection when executed and closes it when done (when its reader is closed),
    /// as <see cref="NpgsqlDataSource.CreateCommand"/> does: Npgsql's own data-source command, from the server chosen now
    /// by the balancer (the least loaded eligible one). Executing it opens a connection of that server's pools, failing
    /// over to its next best servers within the same call (Npgsql's multi-host open, as <see cref="CreateConnection"/>'s).
    /// Create one per use: a command executed again reuses the server chosen when it was created.
    /// </summary>
    /// <remarks>
    /// Npgsql keeps such a command's connection to itself, so the driver does not see it open: pooled, the host map counts
    /// it (with every physical connection of the pools), but the balancer's own count does not while the command runs, and a
    /// server the command's open passed over is not marked down by it. Where that matters (long-running readers, many at
    /// once), open a connection with <see cref="OpenConnectionAsync"/> and create the command on it.
    /// </remarks>
    /// <param name="commandText">The command's text.</param>
    /// <exception cref="NpgsqlException">The cluster could not be discovered: no listed host answered.</exception>
    public new NpgsqlCommand CreateCommand(string? commandText = null)
    {
        ThrowIfDisposed();
        return _opener.ChooseDataSource().CreateCommand(commandText);
    }

    /// <summary>
    /// Creates a batch that opens its own connection when executed, on the server chosen now, as <see cref="CreateCommand"/>
    /// does for a command (the same remarks apply).
    /// </summary>
    /// <exception cref="NpgsqlException">The cluster could not be discovered: no listed host answered.</exception>
    public new NpgsqlBatch CreateBatch()
    {
        ThrowIfDisposed();
        return _opener.ChooseDataSource().CreateBatch();
    }

    /// <summary>Opens a connection on the least-loaded eligible server, failing over to the next one if it cannot be reached.</summary>
    /// <exception cref="NpgsqlException">No eligible server could be reached; the message lists each server and why.</exception>
    /// <exception cref="PostgresException">The server refused the connection (for example a wrong password).</exception>
    public new NpgsqlConnection OpenConnection()
    {
        ThrowIfDisposed();
        return _opener.OpenAsync(async: false, CancellationToken.None).GetAwaiter().GetResult();
    }

    /// <summary>Opens a connection on the least-loaded eligible server, failing over to the next one if it cannot be reached.</summary>
    /// <exception cref="NpgsqlException">No eligible server could be reached; the message lists each server and why.</exception>
    /// <exception cref="PostgresException">The server refused the connection (for example a wrong password).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled; nothing is left counted.</exception>
    public new ValueTask<NpgsqlConnection> OpenConnectionAsync(CancellationToken cancellationToken = default) =>
        IsDisposed
            ? ValueTask.FromException<NpgsqlConnection>(new ObjectDisposedException(GetType().FullName))
            : _opener.OpenAsync(async: true, cancellationToken);

    /// <summary>
    /// Connections open on each server, by the server's host as the cluster reports it (<c>host:port</c> when two servers
    /// share a host). Pooled, every physical connection counts, idle ones included, as the server sees them; unpooled,
    /// every open connection. A connection counts on the server it reached; an open still in progress (one abandoned by a
    /// hedge and still waiting on a hung server included) does not. Servers of the current snapshot are listed even at 0;
    /// a server that left the cluster is listed while connections to it remain.
    /// </summary>
    public IReadOnlyDictionary<string, int> GetHostToConnectionMap() =>
        IsDisposed ? new Dictionary<string, int>(StringComparer.Ordinal) : _opener.HostToConnectionMap();

    /// <summary>
    /// Each server of the current snapshot as this data source sees it now: marked down or not (and why), its count in
    /// <see cref="GetHostToConnectionMap"/>, and whether it is in the most preferred group (topology keys' first level and the
    /// node type this data source, or view, chooses first). Empty before the first discovery and when balancing is off.
    /// What a health check reports (package <c>BrightDb.Npgsql.HealthChecks</c>).
    /// </summary>
    public IReadOnlyList<BrightDbServerState> GetServerStates() => IsDisposed ? [] : _opener.ServerStates();

    /// <summary>Reads <c>yb_servers()</c> now instead of waiting for the refresh interval.</summary>
    /// <exception cref="InvalidOperationException">Balancing is off.</exception>
    public Task<ClusterTopology> RefreshTopologyAsync(CancellationToken cancellationToken = default) =>
        IsDisposed
            ? Task.FromException<ClusterTopology>(new ObjectDisposedException(GetType().FullName))
            : _opener.RefreshTopologyAsync(cancellationToken);

    /// <summary>
    /// Closes the idle pooled connections to every server at once; connections in use are closed when they are returned,
    /// instead of going back to the pool (Npgsql's <see cref="NpgsqlDataSource.Clear"/> on each server's pools).
    /// </summary>
    public void Clear()
    {
        ThrowIfDisposed();
        foreach (var dataSource in _opener.NpgsqlDataSources)
            dataSource.Clear();
    }

    /// <summary>
    /// Sets the password of the new physical connections from now on, to every server (and of the driver's own connections
    /// that read <c>yb_servers()</c>), as <see cref="NpgsqlDataSource.Password"/> does for one Npgsql data source; connections
    /// already open, and idle ones in the pools, keep working. For passwords that rotate, prefer
    /// <see cref="BrightDbDataSourceBuilder.UsePeriodicPasswordProvider"/>. Setting it on a view sets its data source's.
    /// </summary>
    /// <exception cref="NotSupportedException">The data source has a password provider (<see cref="BrightDbDataSourceBuilder.UsePasswordProvider"/> or <see cref="BrightDbDataSourceBuilder.UsePeriodicPasswordProvider"/>).</exception>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1044:Properties should not be write only", Justification = "As NpgsqlDataSource.Password: a password is set, never read back.")]
    public string Password
    {
        set
        {
            ThrowIfDisposed();
            var settable = (_root ?? this).SettablePassword
                ?? throw new NotSupportedException("This data source has a password provider: its password cannot also be set.");
            settable.Value = value;
        }
    }

    /// <summary>The password <see cref="Password"/> sets; <see langword="null"/> when the data source has a password provider.</summary>
    internal SettablePassword? SettablePassword { get; init; }

    /// <summary>
    /// Loads the database's types afresh (after <c>CREATE TYPE</c>, <c>CREATE EXTENSION</c>, a migration, …), as
    /// <see cref="NpgsqlDataSource.ReloadTypes"/> does for one Npgsql data source. Balanced, each server's pools are
    /// replaced by new ones whose connections load the types when they are opened (Npgsql cannot reload the types in the
    /// pools of a multi-host data source, which each server's pools are): idle connections are closed now, connections in
    /// use keep the old types and are closed when returned. Nothing is opened here. With <c>Load Balance Hosts=false</c>
    /// it is Npgsql's own <see cref="NpgsqlDataSource.ReloadTypes"/> on the plain data source.
    /// </summary>
    public void ReloadTypes()
    {
        ThrowIfDisposed();
        _opener.ReloadTypesAsync(async: false, CancellationToken.None).GetAwaiter().GetResult();
    }

    /// <summary>Loads the database's types afresh, as <see cref="ReloadTypes"/>.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public Task ReloadTypesAsync(CancellationToken cancellationToken = default) =>
        IsDisposed
            ? Task.FromException(new ObjectDisposedException(GetType().FullName))
            : _opener.ReloadTypesAsync(async: true, cancellationToken);

    /// <summary>The servers of the current snapshot, for metrics.</summary>
    internal IEnumerable<ServerEndpoint> ActiveEndpoints() => _opener.ActiveEndpoints;

    /// <summary>Whether this data source, or the one this view belongs to, was disposed.</summary>
    bool IsDisposed => Volatile.Read(ref (_root ?? this)._disposed) != 0;

    /// <summary>
    /// A view of this data source that chooses servers by <paramref name="mode"/> instead (a read/write split from one
    /// configuration): for example <c>WithLoadBalance(LoadBalanceMode.OnlyReadReplica)</c> for reads and
    /// <c>WithLoadBalance(LoadBalanceMode.OnlyPrimary)</c> for writes. A view shares this data source's topology, counts,
    /// pools, health and host map; topology keys apply as ever. Its connections are real <see cref="NpgsqlConnection"/>s,
    /// counted like this data source's own. Disposing a view does nothing; disposing this data source ends its views. Events
    /// are raised by this data source, not by its views. The same view is returned for the same mode.
    /// </summary>
    /// <param name="mode">How the view chooses servers by node type.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="mode"/> is <see cref="LoadBalanceMode.Disabled"/> or not a mode.</exception>
    /// <exception cref="InvalidOperationException">Balancing is off on this data source.</exception>
    public BrightDbDataSource WithLoadBalance(LoadBalanceMode mode)
    {
        ThrowIfDisposed();
        if (mode == LoadBalanceMode.Disabled || !Enum.IsDefined(mode))
            throw new ArgumentOutOfRangeException(nameof(mode), mode, "A view chooses servers: any, only-primary, only-rr, prefer-primary or prefer-rr.");
        var root = _root ?? this;
        if (root._opener is not BalancedOpener opener)
            throw new InvalidOperationException("Load Balance Hosts is false: this data source does not choose servers, so it has no views.");
        var views = Volatile.Read(ref root._views) ?? Interlocked.CompareExchange(ref root._views, new BrightDbDataSource?[Enum.GetValues<LoadBalanceMode>().Length], null) ?? root._views!;
        var index = (int)mode;
        if (Volatile.Read(ref views[index]) is { } made)
            return made;
        var view = new BrightDbDataSource(root, mode, opener);
        return Interlocked.CompareExchange(ref views[index], view, null) ?? view;
    }

    void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(IsDisposed, this);

    /// <inheritdoc />
    protected override DbConnection CreateDbConnection() => CreateConnection();

    /// <inheritdoc />
    protected override DbConnection OpenDbConnection() => OpenConnection();

    /// <inheritdoc />
    protected override DbCommand CreateDbCommand(string? commandText = null) => CreateCommand(commandText);

    /// <inheritdoc />
    protected override DbBatch CreateDbBatch() => CreateBatch();

    /// <inheritdoc />
    protected override async ValueTask<DbConnection> OpenDbConnectionAsync(CancellationToken cancellationToken = default) =>
        await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
            DisposeAsyncCore().AsTask().GetAwaiter().GetResult();
        base.Dispose(disposing);
    }

    /// <inheritdoc />
    protected override async ValueTask DisposeAsyncCore()
    {
        // A view owns nothing: the data source it belongs to ends it.
        if (_root is not null || Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        DataSourceRegistry.Remove(this);
        await _opener.DisposeAsync().ConfigureAwait(false);
        foreach (var owned in _owned)
            await owned.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Ends <paramref name="resource"/> with this data source; called by the builder before the data source is handed out.</summary>
    internal void Own(IAsyncDisposable resource) => _owned = [.. _owned, resource];

    /// <inheritdoc />
    public override string ToString() => $"{nameof(BrightDbDataSource)} {Name} ({_settings.LoadBalance}, {string.Join(",", _settings.ListedHosts)})";
}
