using Npgsql;

namespace BrightDb.Npgsql;

/// <summary>
/// One periodic password provider for a whole data source (<see cref="BrightDbDataSourceBuilder.UsePeriodicPasswordProvider"/>):
/// one timer and one call of the provider per refresh, whatever the number of servers, where configuring Npgsql's own on
/// each server's data source would start one timer per server. Every server's data source reads the password from here.
/// <list type="number">
/// <item>Started when the data source is built: the first call of the provider runs at once, in the background.</item>
/// <item>After a success the password is kept and the provider called again after the success interval; after a failure,
/// after the failure interval (the last good password, if any, is still used meanwhile).</item>
/// <item>An open before the first call ended waits for it; if no call succeeded yet, the open fails with the provider's error.</item>
/// <item>Disposing the data source cancels the call in progress (the provider's token) and stops the timer.</item>
/// </list>
/// </summary>
sealed class PeriodicPassword : IAsyncDisposable
{
    readonly Func<NpgsqlConnectionStringBuilder, CancellationToken, ValueTask<string>> _provider;
    readonly NpgsqlConnectionStringBuilder _settings;
    readonly TimeSpan _successInterval;
    readonly TimeSpan _failureInterval;
    readonly CancellationTokenSource _lifetime = new();
    readonly TaskCompletionSource _firstCallEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly ITimer _timer;
    string? _password;
    Exception? _lastError;

    /// <param name="provider">The application's provider.</param>
    /// <param name="settings">What the provider is given: the data source's settings (the listed hosts, no password).</param>
    /// <param name="successInterval">How long a password is used before the provider is called again.</param>
    /// <param name="failureInterval">How long after a failed call the provider is called again.</param>
    /// <param name="time">The clock of the intervals.</param>
    internal PeriodicPassword(
        Func<NpgsqlConnectionStringBuilder, CancellationToken, ValueTask<string>> provider, NpgsqlConnectionStringBuilder settings,
        TimeSpan successInterval, TimeSpan failureInterval, TimeProvider time)
    {
        _provider = provider;
        _settings = settings;
        _successInterval = successInterval;
        _failureInterval = failureInterval;
        _timer = time.CreateTimer(static state => _ = ((PeriodicPassword)state!).RefreshAsync(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>How many times the provider was called (for tests and diagnostics).</summary>
    internal int Calls => Volatile.Read(ref _calls);
    int _calls;

    internal void Start() => _timer.Change(TimeSpan.Zero, Timeout.InfiniteTimeSpan);

    async Task RefreshAsync()
    {
        TimeSpan next;
        try
        {
            Interlocked.Increment(ref _calls);
            var password = await _provider(new NpgsqlConnectionStringBuilder(_settings.ConnectionString), _lifetime.Token).ConfigureAwait(false);
            Volatile.Write(ref _password, password ?? throw new InvalidOperationException("The periodic password provider returned null."));
            _lastError = null;
            next = _successInterval;
        }
        catch (OperationCanceledException) when (_lifetime.IsCancellationRequested)
        {
            _firstCallEnded.TrySetResult();
            return;
        }
        catch (Exception e)
        {
            _lastError = e;
            next = _failureInterval;
        }

        _firstCallEnded.TrySetResult();
        try
        {
            if (!_lifetime.IsCancellationRequested)
                _timer.Change(next, Timeout.InfiniteTimeSpan);
        }
        catch (ObjectDisposedException)
        {
            // Disposed meanwhile.
        }
    }

    /// <summary>The password for a synchronous open.</summary>
    internal string Get()
    {
        if (Volatile.Read(ref _password) is { } password)
            return password;
        _firstCallEnded.Task.GetAwaiter().GetResult();
        return Current();
    }

    /// <summary>The password for an asynchronous open.</summary>
    internal ValueTask<string> GetAsync(CancellationToken cancellationToken) =>
        Volatile.Read(ref _password) is { } password ? new ValueTask<string>(password) : new ValueTask<string>(WaitAsync(cancellationToken));

    async Task<string> WaitAsync(CancellationToken cancellationToken)
    {
        await _firstCallEnded.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        return Current();
    }

    string Current() =>
        Volatile.Read(ref _password)
        ?? throw new NpgsqlException("The periodic password provider has not given a password yet: its call failed (see the inner exception).", _lastError);

    public async ValueTask DisposeAsync()
    {
        if (_lifetime.IsCancellationRequested)
            return;
        await _lifetime.CancelAsync().ConfigureAwait(false);
        await _timer.DisposeAsync().ConfigureAwait(false);
        _firstCallEnded.TrySetResult();
    }
}
