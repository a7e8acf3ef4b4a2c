using System.Diagnostics;
using BrightDb.Npgsql.Balancing;
using BrightDb.Npgsql.ConnectionStrings;
using BrightDb.Npgsql.Diagnostics;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace BrightDb.Npgsql.Topology;

/// <summary>
/// Owns what one data source knows of its cluster: the endpoints of every server seen, and the current snapshot.
/// Only refreshes change them, and only one refresh runs at a time; readers take the snapshot with one volatile read.
/// A timer of its own refreshes every <c>YB Servers Refresh Interval</c> (and soon after a server fails), so that opens
/// never wait for a refresh, except the very first discovery and every open when the interval is 0.
/// </summary>
internal sealed class TopologyManager
{
    /// <summary>Servers after a server's own in its data source's host list, for Npgsql's failover within one open.</summary>
    internal const int MaxFallbacks = 2;

    /// <summary>The least time between two refreshes asked for early (after failures), so that a burst of failures is one refresh.</summary>
    static readonly TimeSpan EarlyRefreshSpacing = TimeSpan.FromSeconds(1);

    readonly BrightDbSettings _settings;
    readonly TimeProvider _time;
    readonly ILogger _log;
    readonly string _dataSourceName;
    readonly Func<HostAndPort, ServerEndpoint> _newEndpoint;
    readonly Action<ClusterTopology?, ClusterTopology> _onChanged;
    readonly ServerHealth _health;
    readonly CancellationTokenSource _lifetime = new();
    ITimer? _timer;
    long _lastRefreshStarted;

    /// <summary>Guards <see cref="_endpoints"/> and the installation of a new state; taken by refreshes only, never by opens.</summary>
    readonly Lock _installLock = new();
    readonly Dictionary<HostAndPort, ServerEndpoint> _endpoints = [];

    ClusterState? _state;
    Task<ClusterState>? _inflight;
    long _refreshAt;
    bool _warnedMissing;

    internal TopologyManager(
        BrightDbSettings settings, TimeProvider time, ILogger log, string dataSourceName,
        Func<HostAndPort, ServerEndpoint> newEndpoint, Action<ClusterTopology?, ClusterTopology> onChanged,
        ServerHealth health)
    {
        _settings = settings;
        _time = time;
        _log = log;
        _dataSourceName = dataSourceName;
        _newEndpoint = newEndpoint;
        _onChanged = onChanged;
        _health = health;
        health.RequestRefresh = RequestRefresh;
    }

    /// <summary>The current state, or <see langword="null"/> before the first discovery.</summary>
    internal ClusterState? Current => Volatile.Read(ref _state);

    /// <summary>Every endpoint ever created (active, removed, listed-only), for the map and for disposal.</summary>
    internal ServerEndpoint[] AllEndpoints()
    {
        lock (_installLock)
        {
            return [.. _endpoints.Values];
        }
    }

    /// <summary>
    /// The state to open a connection with. A fresh-enough snapshot is returned at once; a stale one is returned too,
    /// with a refresh started in the background. Only the first discovery (and an interval of 0) makes the caller wait.
    /// </summary>
    internal ValueTask<ClusterState> GetStateAsync(bool async, CancellationToken cancellationToken)
    {
        var state = Volatile.Read(ref _state);
        if (state is not null && _settings.RefreshInterval > TimeSpan.Zero)
        {
            if (_time.GetTimestamp() >= Volatile.Read(ref _refreshAt))
                StartRefresh(background: true);
            return new ValueTask<ClusterState>(state);
        }

        return Wait(StartRefresh(background: false), async, cancellationToken);
    }

    /// <summary>
    /// Refreshes soon (after a server failed, the cluster may have changed): on the timer, at most once per
    /// <see cref="EarlyRefreshSpacing"/>; with no timer (an interval of 0, or before the first discovery), the next open does.
    /// </summary>
    internal void RequestRefresh()
    {
        Volatile.Write(ref _refreshAt, 0);
        if (Volatile.Read(ref _timer) is not { } timer || _lifetime.IsCancellationRequested)
            return;
        var since = _time.GetElapsedTime(Volatile.Read(ref _lastRefreshStarted));
        var due = since >= EarlyRefreshSpacing ? TimeSpan.Zero : EarlyRefreshSpacing - since;
        try
        {
            timer.Change(due, _settings.RefreshInterval);
        }
        catch (ObjectDisposedException)
        {
            // Disposed meanwhile: nothing to refresh.
        }
    }

    /// <summary>The endpoint of the server at <paramref name="host"/>:<paramref name="port"/>, if this data source knows it.</summary>
    internal ServerEndpoint? Find(string? host, int port)
    {
        if (host is null)
            return null;
        lock (_installLock)
        {
            return _endpoints.GetValueOrDefault(new HostAndPort(host, port));
        }
    }

    /// <summary>
    /// The servers that follow <paramref name="server"/> in its data source's host list: the next ones of its own group
    /// (topology level and node type) in the snapshot's order, going round, then the groups after it. A server outside the
    /// snapshot (a listed host before discovery) is followed by the other listed hosts.
    /// </summary>
    internal IReadOnlyList<HostAndPort> FallbacksFor(ServerEndpoint server)
    {
        var fallbacks = new List<HostAndPort>(MaxFallbacks);
        if (Volatile.Read(ref _state) is { } state && Array.FindIndex(state.Plan.Groups, g => Array.IndexOf(g, server) >= 0) is var first and >= 0)
        {
            for (var g = first; g < state.Plan.Groups.Length && fallbacks.Count < MaxFallbacks; g++)
            {
                var group = state.Plan.Groups[g];
                var start = g == first ? Array.IndexOf(group, server) + 1 : 0;
                for (var i = 0; i < group.Length && fallbacks.Count < MaxFallbacks; i++)
                {
                    var candidate = group[(start + i) % group.Length];
                    if (candidate != server)
                        fallbacks.Add(candidate.Address);
                }
            }

            return fallbacks;
        }

        foreach (var listed in _settings.ListedHosts)
        {
            if (listed != server.Address && fallbacks.Count < MaxFallbacks && !fallbacks.Contains(listed))
                fallbacks.Add(listed);
        }

        return fallbacks;
    }

    void StartTimer()
    {
        if (_settings.RefreshInterval <= TimeSpan.Zero || Volatile.Read(ref _timer) is not null)
            return;
        // The timer holds the manager weakly: an application that forgets to dispose its data source does not keep it alive.
        var timer = _time.CreateTimer(
            static state =>
            {
                if (((WeakReference<TopologyManager>)state!).TryGetTarget(out var manager) && !manager._lifetime.IsCancellationRequested)
                    _ = manager.StartRefresh(background: false);
            },
            new WeakReference<TopologyManager>(this), _settings.RefreshInterval, _settings.RefreshInterval);
        if (Interlocked.CompareExchange(ref _timer, timer, null) is not null)
            timer.Dispose();
    }

    /// <summary>Refreshes now and waits for it.</summary>
    internal Task<ClusterState> RefreshAsync(CancellationToken cancellationToken) => StartRefresh(background: false).WaitAsync(cancellationToken);

    static async ValueTask<ClusterState> Wait(Task<ClusterState> task, bool async, CancellationToken cancellationToken)
    {
        if (async)
            return await task.WaitAsync(cancellationToken).ConfigureAwait(false);
        // The synchronous open blocks here only for the first discovery, as Npgsql's own synchronous open blocks on I/O.
        return task.GetAwaiter().GetResult();
    }

    Task<ClusterState> StartRefresh(bool background)
    {
        if (Volatile.Read(ref _inflight) is { } running)
            return running;
        var completion = new TaskCompletionSource<ClusterState>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (Interlocked.CompareExchange(ref _inflight, completion.Task, null) is { } other)
            return other;

        if (background)
            ThreadPool.UnsafeQueueUserWorkItem(static s => _ = s.manager.RunRefreshAsync(s.completion), (manager: this, completion), preferLocal: false);
        else
            _ = RunRefreshAsync(completion);
        return completion.Task;
    }

    async Task RunRefreshAsync(TaskCompletionSource<ClusterState> completion)
    {
        var started = _time.GetTimestamp();
        Volatile.Write(ref _lastRefreshStarted, started);
        try
        {
            var state = await DiscoverAsync(_lifetime.Token).ConfigureAwait(false);
            DriverMetrics.Refreshed(_dataSourceName, success: true, _time.GetElapsedTime(started));
            Volatile.Write(ref _inflight, null);
            completion.SetResult(state);
        }
        catch (Exception e)
        {
            DriverMetrics.Refreshed(_dataSourceName, success: false, _time.GetElapsedTime(started));
            var retry = RetryDelay();
            Volatile.Write(ref _refreshAt, _time.GetTimestamp() + ToTimestamp(retry));
            Volatile.Write(ref _inflight, null);
            if (Volatile.Read(ref _state) is { } last && !_lifetime.IsCancellationRequested)
            {
                // A failed refresh keeps the last good topology: the cluster did not vanish because one query failed.
                Log.RefreshFailed(_log, _dataSourceName, retry.TotalSeconds, FailureClassifier.Describe(e));
                completion.SetResult(last);
            }
            else
            {
                completion.SetException(e);
            }
        }
    }

    TimeSpan RetryDelay()
    {
        var retry = _settings.ReconnectDelay > TimeSpan.Zero ? _settings.ReconnectDelay : TimeSpan.FromSeconds(1);
        return _settings.RefreshInterval > TimeSpan.Zero && _settings.RefreshInterval < retry ? _settings.RefreshInterval : retry;
    }

    long ToTimestamp(TimeSpan span) => (long)(span.TotalSeconds * _time.TimestampFrequency);

    /// <summary>Servers to ask, best first: known servers that are up, then the listed hosts, then servers marked down.</summary>
    List<ServerEndpoint> ControlCandidates()
    {
        var now = _time.GetTimestamp();
        var ordered = new List<ServerEndpoint>();
        lock (_installLock)
        {
            // Preferred servers first: the ones the application uses, so a refresh asks a server this data source knows is up.
            if (Volatile.Read(ref _state) is { } state)
                ordered.AddRange(state.Plan.Candidates.Concat(state.Servers).Distinct().Where(s => s.DownUntil == 0 && !s.Removed));
            foreach (var listed in _settings.ListedHosts)
            {
                var endpoint = GetOrAddLocked(listed);
                if (!ordered.Contains(endpoint))
                    ordered.Add(endpoint);
            }
        }

        // Servers marked down stay candidates, last: when everything seems down, asking costs little and may find it back.
        return [.. ordered.Where(s => s.IsSelectable(now)), .. ordered.Where(s => !s.IsSelectable(now))];
    }

    ServerEndpoint GetOrAddLocked(HostAndPort address)
    {
        if (!_endpoints.TryGetValue(address, out var endpoint))
            _endpoints[address] = endpoint = _newEndpoint(address);
        return endpoint;
    }

    async Task<ClusterState> DiscoverAsync(CancellationToken cancellationToken)
    {
        var failures = new List<(ServerEndpoint Server, Exception Error)>();
        ServerEndpoint? reachable = null;
        IReadOnlySet<string>? given = null;
        var timeoutSeconds = Math.Max(1, (int)_settings.ConnectTimeout.TotalSeconds);
        foreach (var endpoint in ControlCandidates())
        {
            cancellationToken.ThrowIfCancellationRequested();
            var started = _time.GetTimestamp();
            var opened = false;
            try
            {
                IReadOnlyList<YbServersRow> rows;
                // A connection of its own, not from the application's pools: it is closed after the query, so it never sits idle
                // on a server the application does not use, and the first open chooses its server like every other.
                var connection = endpoint.ControlDataSource.CreateConnection();
                await using (connection.ConfigureAwait(false))
                {
                    await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
                    opened = true;
                    try
                    {
                        rows = await YbServersQuery.RunAsync(connection, timeoutSeconds, async: true, cancellationToken).ConfigureAwait(false);
                    }
                    catch (PostgresException e) when (e.SqlState == YbServersQuery.UndefinedFunction)
                    {
                        if (!_warnedMissing)
                        {
                            _warnedMissing = true;
                            Log.YbServersMissing(_log, endpoint.ToString(), _dataSourceName);
                        }

                        return Install(ListedHostsTopology());
                    }
                }

                given ??= await YbServersParser.GivenAddressesAsync(_settings.ListedHosts, cancellationToken).ConfigureAwait(false);
                var parsed = YbServersParser.Parse(rows, given);
                if (parsed.Problems.Count > 0)
                    Log.BadRows(_log, endpoint.ToString(), parsed.Problems.Count, string.Join("; ", parsed.Problems.Take(10)));
                if (parsed.Servers.Count == 0)
                    throw new NpgsqlException($"yb_servers() on {endpoint} returned no usable server.");

                Log.Refreshed(_log, _dataSourceName, endpoint.ToString(), _time.GetElapsedTime(started).TotalMilliseconds);
                return Install(new ClusterTopology(parsed.Servers, _time.GetUtcNow(), fromYbServers: true));
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                failures.Add((endpoint, e));
                if (opened)
                    reachable ??= endpoint;
                // Only a server that cannot be connected to is marked down: a slow or failing yb_servers() on a server
                // that accepts connections says nothing about its ability to serve the application.
                if (!opened && FailureClassifier.IsServerUnavailable(e, cancellationToken))
                    _health.MarkDown(endpoint, FailureClassifier.Describe(e));
            }
        }

        // Servers accept connections but yb_servers() fails on each. With no topology yet, the listed hosts serve the
        // application meanwhile, as when the function is missing, and discovery is retried soon; a refresh keeps the last one.
        if (reachable is not null && Volatile.Read(ref _state) is null)
        {
            var retry = RetryDelay();
            Log.RefreshFailed(_log, _dataSourceName, retry.TotalSeconds,
                string.Join("; ", failures.Select(f => $"{f.Server}: {FailureClassifier.Describe(f.Error)}")));
            var provisional = Install(ListedHostsTopology());
            Volatile.Write(ref _refreshAt, _time.GetTimestamp() + ToTimestamp(retry));
            return provisional;
        }

        // The server answered but refused us (a wrong password, a missing database): that is the application's error, as PostgreSQL said it.
        if (failures.FirstOrDefault(f => f.Error is PostgresException p && !FailureClassifier.IsServerUnavailable(p, default)).Error is { } own)
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(own);
        throw new NpgsqlException(
            "Could not learn the cluster's servers: no listed or known server answered. " +
            string.Join("; ", failures.Select(f => $"{f.Server}: {FailureClassifier.Describe(f.Error)}")),
            failures.Count == 1 ? failures[0].Error : new AggregateException(failures.Select(f => f.Error)));
    }

    ClusterTopology ListedHostsTopology() => new([.. _settings.ListedHosts.Select(ListedHostInfo)], _time.GetUtcNow(), fromYbServers: false);

    /// <summary>A listed host standing in for a server the cluster did not describe: a primary with no placement.</summary>
    internal static ServerInfo ListedHostInfo(HostAndPort host) => new(host.Host, host.Port, ServerNodeType.Primary, null, null, null, null, null);

    ClusterState Install(ClusterTopology topology)
    {
        ClusterState? previous;
        ClusterState next;
        var removed = new List<ServerEndpoint>();
        lock (_installLock)
        {
            previous = Volatile.Read(ref _state);
            var servers = new ServerEndpoint[topology.Servers.Count];
            for (var i = 0; i < servers.Length; i++)
            {
                var info = topology.Servers[i];
                var endpoint = GetOrAddLocked(new HostAndPort(info.ConnectHost, info.Port));
                endpoint.Info = info;
                if (endpoint.Removed)
                {
                    // Back in the cluster: whatever idled in its pool predates its departure (and maybe its process).
                    endpoint.Removed = false;
                    endpoint.ClearPool();
                }
                servers[i] = endpoint;
            }

            if (previous is not null)
                removed.AddRange(previous.Servers.Except(servers));
            foreach (var endpoint in removed)
                endpoint.Removed = true;

            // A host shared by two servers (several ports on one address) is shown with its port, otherwise the host alone.
            var sharedHosts = servers.GroupBy(s => s.Address.Host, StringComparer.OrdinalIgnoreCase).Where(g => g.Count() > 1).Select(g => g.Key)
                .ToHashSet(StringComparer.OrdinalIgnoreCase);
            foreach (var endpoint in servers)
                endpoint.MapKey = sharedHosts.Contains(endpoint.Address.Host) ? endpoint.Address.ToString() : endpoint.Address.Host;

            var plan = SelectionPlan.Build(servers, _settings);
            next = new ClusterState(topology, plan, servers);
            Volatile.Write(ref _refreshAt, _time.GetTimestamp() + ToTimestamp(_settings.RefreshInterval));
            Volatile.Write(ref _state, next);
        }

        StartTimer();

        foreach (var endpoint in removed)
        {
            Log.ServerRemoved(_log, endpoint.ToString());
            endpoint.ClearPool();
        }

        if (!topology.SameServersAs(previous?.Topology))
        {
            Log.TopologyChanged(_log, _dataSourceName, topology);
            _onChanged(previous?.Topology, topology);
        }

        return next;
    }

    internal async ValueTask DisposeAsync()
    {
        await _lifetime.CancelAsync().ConfigureAwait(false);
        if (Interlocked.Exchange(ref _timer, null) is { } timer)
            await timer.DisposeAsync().ConfigureAwait(false);
        if (Volatile.Read(ref _inflight) is { } running)
        {
            try
            {
                await running.ConfigureAwait(false);
            }
            catch (Exception)
            {
                // A refresh cut short by disposal has nothing to report.
            }
        }

        foreach (var endpoint in AllEndpoints())
            await endpoint.DisposeAsync().ConfigureAwait(false);
        _lifetime.Dispose();
    }
}
