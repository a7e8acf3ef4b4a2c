using BrightDb.Npgsql.Balancing;
using Npgsql;

namespace BrightDb.Npgsql.Pooling;

/// <summary>
/// Notices, between opens, that a server lost the pool's idle connections, so that none of them is handed out while
/// Npgsql checks them only once per <c>Host Recheck Seconds</c> (the driver's default: 1 s) instead of on every open. One
/// unpooled connection of the driver's own (named "(BrightDB control)") waits on the
/// server (<see cref="NpgsqlConnection.WaitAsync(CancellationToken)"/>) and sends nothing. A server that is killed,
/// stopped, restarted or that ends its client connections ends this one at the same moment as the idle ones; the watch
/// then reports the loss (<see cref="ServerHealth.Lost"/> clears the server's pool and asks for an early refresh).
/// Decision owned (docs/architecture.md): notice a lost server between opens.
/// </summary>
/// <remarks>
/// Started by the first connection counted on the server, or the first data-source command created for it (pooled data
/// sources with <c>Host Recheck Seconds</c> above 0: <see cref="ConnectionStrings.BrightDbSettings.WatchServers"/>), and
/// again after a loss by the first connection counted there afterwards, which proves the server answers. A watch the
/// server did not accept is retried no sooner than <c>Failed Host Reconnect Delay Secs</c> later. Stopped, its connection closed, when the data source is
/// disposed. A server that goes silent without closing connections (a network cut) is not noticed here: Npgsql's check of
/// idle connections once per <c>Host Recheck Seconds</c> and the hedged open cover it.
/// </remarks>
sealed class ServerWatch
{
    readonly ServerEndpoint _server;
    readonly Action<ServerEndpoint, Exception> _lost;
    readonly TimeProvider _time;
    readonly long _retryDelayTicks;
    readonly CancellationTokenSource _stopping = new();

    /// <summary>1 while a watch runs (or is starting), 0 otherwise.</summary>
    int _running;

    /// <summary>1 while the watch's connection is open on the server (it notices a loss from then on), 0 otherwise.</summary>
    int _watching;

    /// <summary>The <see cref="TimeProvider"/> timestamp before which a watch the server refused is not tried again; 0 for none.</summary>
    long _retryAt;

    /// <summary>The running watch, awaited on disposal.</summary>
    Task? _task;

    /// <param name="server">The server watched; its control data source makes the watch's connection.</param>
    /// <param name="lost">Told when the server ended the watch's connection.</param>
    /// <param name="time">The clock of the retry delay.</param>
    /// <param name="retryDelay">How long after a refused watch it is tried again.</param>
    internal ServerWatch(ServerEndpoint server, Action<ServerEndpoint, Exception> lost, TimeProvider time, TimeSpan retryDelay)
    {
        _server = server;
        _lost = lost;
        _time = time;
        _retryDelayTicks = (long)(retryDelay.TotalSeconds * time.TimestampFrequency);
    }

    /// <summary>Whether a watch runs now.</summary>
    internal bool Running => Volatile.Read(ref _running) != 0;

    /// <summary>
    /// Whether the watch's connection is open on the server, so that the server's end would be noticed. Until then (a
    /// server just used, just lost, or not taking the watch) <see cref="ServerEndpoint.DataSourceForOpen"/> has Npgsql check
    /// the idle connection it hands out.
    /// </summary>
    internal bool Watching => Volatile.Read(ref _watching) != 0;

    /// <summary>Starts the watch unless it runs; called on every counted open, so the common case is one volatile read.</summary>
    internal void EnsureRunning()
    {
        if (Volatile.Read(ref _running) != 0)
            return;
        StartIfDue();
    }

    void StartIfDue()
    {
        if (_stopping.IsCancellationRequested || (Volatile.Read(ref _retryAt) is var at && at != 0 && _time.GetTimestamp() < at))
            return;
        if (Interlocked.CompareExchange(ref _running, 1, 0) != 0)
            return;
        // Never on the caller's thread: the caller is a connection's StateChange handler inside an open.
        Volatile.Write(ref _task, Task.Run(RunAsync));
    }

    async Task RunAsync()
    {
        var connection = _server.ControlDataSource.CreateConnection();
        var accepted = false;
        try
        {
            await connection.OpenAsync(_stopping.Token).ConfigureAwait(false);
            accepted = true;
            Volatile.Write(ref _retryAt, 0);
            Volatile.Write(ref _watching, 1);
            // Returns only when a notification arrives (the watch listens to none); throws when the server ends the connection.
            while (true)
                await connection.WaitAsync(_stopping.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            // The data source is disposed.
        }
        catch (Exception e) when (accepted)
        {
            Volatile.Write(ref _watching, 0);
            _lost(_server, e);
        }
        catch (Exception)
        {
            // The server did not take the watch: the opens that use it will find out why. Try again after the delay.
            Volatile.Write(ref _retryAt, _time.GetTimestamp() + _retryDelayTicks);
        }
        finally
        {
            Volatile.Write(ref _watching, 0);
            await connection.DisposeAsync().ConfigureAwait(false);
            Volatile.Write(ref _running, 0);
        }
    }

    /// <summary>Stops the watch and waits until its connection is closed.</summary>
    internal async ValueTask DisposeAsync()
    {
        // The token source is not disposed: an open racing with disposal may still read its token (it has no timer to free).
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (Volatile.Read(ref _task) is { } task)
            await task.ConfigureAwait(false);
    }
}
