using System.Diagnostics.CodeAnalysis;
using BrightDb.Npgsql.Balancing;
using BrightDb.Npgsql.ConnectionStrings;
using BrightDb.Npgsql.Diagnostics;
using BrightDb.Npgsql.Pooling;
using Microsoft.Extensions.Logging;

namespace BrightDb.Npgsql.Topology;

/// <summary>
/// Owns what one data source knows of its cluster: the current snapshot, replaced only by refreshes, one refresh at a
/// time; readers take it with one volatile read and never wait, except for the very first discovery and every open when
/// the refresh interval is 0. It coordinates the parts: <see cref="EndpointRegistry"/> (each server's endpoint),
/// <see cref="ClusterDiscovery"/> (reading <c>yb_servers()</c>), <see cref="RefreshSchedule"/> (when to read) and
/// <see cref="ClusterStateBuilder"/> (the snapshot).
/// </summary>
sealed class TopologyManager
{
    readonly BrightDbSettings _settings;
    readonly TimeProvider _time;
    readonly ILogger _log;
    readonly string _dataSourceName;
    readonly Action<ClusterTopology?, ClusterTopology> _onChanged;
    readonly ServerHealth _health;
    readonly EndpointRegistry _registry;
    readonly ClusterDiscovery _discovery;
    readonly RefreshSchedule _schedule;
    readonly CancellationTokenSource _lifetime = new();

    ClusterState? _state;
    Task<ClusterState>? _inflight;

    /// <summary>Reads the data source's own connections per server (pooled: idle ones included), to weigh the servers' reported counts.</summary>
    internal Func<Func<ServerEndpoint, int>>? OwnConnections { get; set; }

    internal TopologyManager(
        BrightDbSettings settings, TimeProvider time, ILogger log, string dataSourceName,
        Func<HostAndPort, ServerEndpoint> newEndpoint, Action<ClusterTopology?, ClusterTopology> onChanged,
        ServerHealth health)
    {
        _settings = settings;
        _time = time;
        _log = log;
        _dataSourceName = dataSourceName;
        _onChanged = onChanged;
        _health = health;
        _registry = new EndpointRegistry(newEndpoint);
        _discovery = new ClusterDiscovery(settings, time, log, dataSourceName, _registry, health);
        _schedule = new RefreshSchedule(settings.RefreshInterval, settings.ReconnectDelay, time);
        health.RequestRefresh = RequestRefresh;
    }

    /// <summary>Whether an open waits for a refresh now (the first discovery, or a refresh interval of 0).</summary>
    internal bool OpensWait => Current is null || !_schedule.InBackground;

    /// <summary>The current state, or <see langword="null"/> before the first discovery.</summary>
    internal ClusterState? Current => Volatile.Read(ref _state);

    /// <summary>Every endpoint ever created (active, removed, listed-only), for the map and for disposal.</summary>
    internal ServerEndpoint[] AllEndpoints() => _registry.All();

    /// <summary>The endpoint of the server at <paramref name="host"/>:<paramref name="port"/>, if this data source knows it.</summary>
    internal ServerEndpoint? Find(string? host, int port) => _registry.Find(host, port);

    /// <summary>The servers that follow <paramref name="server"/> in its data source's host list (<see cref="FallbackOrder"/>).</summary>
    internal IReadOnlyList<HostAndPort> FallbacksFor(ServerEndpoint server) => FallbackOrder.For(server, Current, _settings.ListedHosts, _settings.MaxFallbacks);

    /// <summary>
    /// The state to open a connection with. A fresh-enough snapshot is returned at once; a stale one is returned too,
    /// with a refresh started in the background. Only the first discovery (and an interval of 0) makes the caller wait.
    /// </summary>
    internal ValueTask<ClusterState> GetStateAsync(bool async, CancellationToken cancellationToken) =>
        TryGetStateNow(out var state)
            ? new ValueTask<ClusterState>(state)
            : Wait(StartRefresh(background: false), async, cancellationToken);

    /// <summary>
    /// The state to open a connection with, when no wait is needed (every open once the first discovery is done, unless the
    /// refresh interval is 0); a stale snapshot starts a refresh in the background.
    /// </summary>
    internal bool TryGetStateNow([NotNullWhen(true)] out ClusterState? state)
    {
        state = Volatile.Read(ref _state);
        if (state is null || !_schedule.InBackground)
            return false;
        if (_schedule.IsDue)
            StartRefresh(background: true);
        return true;
    }

    /// <summary>Refreshes soon: a server failed, and the cluster may have changed (<see cref="RefreshSchedule.RequestEarly"/>).</summary>
    internal void RequestRefresh()
    {
        if (!_lifetime.IsCancellationRequested)
            _schedule.RequestEarly();
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

    /// <summary>Starts a refresh, or joins the one running.</summary>
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
        _schedule.Started();
        using var activity = DriverTracing.StartRefresh(_dataSourceName, first: Current is null);
        try
        {
            var found = await _discovery.DiscoverAsync(Current, _lifetime.Token).ConfigureAwait(false);
            DriverTracing.Refreshed(activity, found.Topology);
            var state = Install(found.Topology);
            if (found.ProvisionalBecause is { } why)
            {
                Log.RefreshFailed(_log, _dataSourceName, _schedule.RetryDelay.TotalSeconds, why);
                _schedule.Failed();
            }

            DriverMetrics.Refreshed(_dataSourceName, success: true, _time.GetElapsedTime(started));
            Volatile.Write(ref _inflight, null);
            completion.SetResult(state);
        }
        catch (Exception e)
        {
            DriverTracing.Failed(activity, e);
            DriverMetrics.Refreshed(_dataSourceName, success: false, _time.GetElapsedTime(started));
            _schedule.Failed();
            Volatile.Write(ref _inflight, null);
            if (Current is { } last && !_lifetime.IsCancellationRequested)
            {
                // A failed refresh keeps the last good topology: the cluster did not vanish because one query failed.
                Log.RefreshFailed(_log, _dataSourceName, _schedule.RetryDelay.TotalSeconds, FailureClassifier.Describe(e));
                completion.SetResult(last);
            }
            else
            {
                completion.SetException(e);
            }
        }
    }

    /// <summary>Installs the snapshot of <paramref name="topology"/>, then tells the servers that left or came back, and the application.</summary>
    ClusterState Install(ClusterTopology topology)
    {
        var previous = Current;
        var built = ClusterStateBuilder.Build(topology, previous, _registry, _settings, OwnConnections);
        _schedule.Installed();
        Volatile.Write(ref _state, built.State);
        _schedule.StartTimer(this, static manager =>
        {
            if (!manager._lifetime.IsCancellationRequested)
                _ = manager.StartRefresh(background: false);
        });

        foreach (var endpoint in built.Rejoined)
            _health.Rejoined(endpoint);
        foreach (var endpoint in built.Left)
        {
            Log.ServerRemoved(_log, endpoint.ToString());
            _health.Left(endpoint);
        }

        if (!topology.SameServersAs(previous?.Topology))
        {
            Log.TopologyChanged(_log, _dataSourceName, topology);
            _onChanged(previous?.Topology, topology);
        }

        return built.State;
    }

    internal async ValueTask DisposeAsync()
    {
        await _lifetime.CancelAsync().ConfigureAwait(false);
        await _schedule.StopAsync().ConfigureAwait(false);
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
