namespace BrightDb.LocalCluster.Internal;

/// <summary>
/// Serialises the operations on one cluster object, one at a time, and refuses them once the cluster is destroyed (closing
/// happens once, under the same gate).
/// </summary>
sealed class OperationGate
{
    readonly SemaphoreSlim _semaphore = new(1, 1);

    /// <summary>Whether the cluster was destroyed.</summary>
    public bool Closed { get; private set; }

    /// <summary>Waits for the operations before; dispose the result to let the next one in.</summary>
    /// <exception cref="ObjectDisposedException">The cluster was destroyed.</exception>
    public async Task<Releaser> EnterAsync(CancellationToken ct)
    {
        await _semaphore.WaitAsync(ct).ConfigureAwait(false);
        if (Closed)
        {
            _semaphore.Release();
            throw new ObjectDisposedException(nameof(LocalCluster), "The cluster was destroyed.");
        }

        return new Releaser(_semaphore);
    }

    /// <summary>Runs <paramref name="teardown"/> the first time only, after the operations before it, and refuses every later operation.</summary>
    public async Task CloseAsync(Func<Task> teardown)
    {
        await _semaphore.WaitAsync().ConfigureAwait(false);
        try
        {
            if (Closed)
            {
                return;
            }

            Closed = true;
            await teardown().ConfigureAwait(false);
        }
        finally
        {
            _semaphore.Release();
        }
    }

    /// <summary>Lets the next operation in when disposed.</summary>
    public readonly struct Releaser(SemaphoreSlim semaphore) : IDisposable
    {
        public void Dispose() => semaphore.Release();
    }
}
