namespace BrightDb.Benchmarks;

/// <summary>
/// Dedicated threads that run the same piece of work together, started and joined with a barrier, so that an
/// invocation of a multi-threaded benchmark pays no thread creation and allocates nothing.
/// </summary>
sealed class WorkerGang : IDisposable
{
    readonly Thread[] _threads;
    readonly Barrier _barrier;
    Action<int>? _work;
    int _opsPerThread;
    volatile bool _stopping;

    internal WorkerGang(int threads)
    {
        _barrier = new Barrier(threads + 1);
        _threads = new Thread[threads];
        for (var i = 0; i < threads; i++)
        {
            _threads[i] = new Thread(Loop) { IsBackground = true, Name = $"bench-worker-{i}" };
            _threads[i].Start();
        }
    }

    /// <summary>Runs <paramref name="work"/>(<paramref name="opsPerThread"/>) on every thread at once and waits for all.</summary>
    internal void Run(Action<int> work, int opsPerThread)
    {
        _work = work;
        _opsPerThread = opsPerThread;
        _barrier.SignalAndWait();
        _barrier.SignalAndWait();
    }

    void Loop()
    {
        while (true)
        {
            _barrier.SignalAndWait();
            if (_stopping)
                return;
            _work!(_opsPerThread);
            _barrier.SignalAndWait();
        }
    }

    public void Dispose()
    {
        _stopping = true;
        _barrier.SignalAndWait();
        foreach (var thread in _threads)
            thread.Join();
        _barrier.Dispose();
    }
}
