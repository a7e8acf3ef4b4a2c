namespace BrightDb.Npgsql.DataSource;

/// <summary>
/// The live data sources of the process, weakly held: only <see cref="ClusterAwareLoadBalancer"/> reads it, to show
/// one map for the whole process as psycopg2-brightdb's <c>printHostToConnMap()</c> does. No balancing decision uses it.
/// </summary>
static class DataSourceRegistry
{
    static readonly Lock SourcesLock = new();
    static readonly List<WeakReference<BrightDbDataSource>> Sources = [];

    internal static void Add(BrightDbDataSource source)
    {
        lock (SourcesLock)
        {
            Sources.RemoveAll(w => !w.TryGetTarget(out _));
            Sources.Add(new WeakReference<BrightDbDataSource>(source));
        }
    }

    internal static void Remove(BrightDbDataSource source)
    {
        lock (SourcesLock)
        {
            Sources.RemoveAll(w => !w.TryGetTarget(out var s) || ReferenceEquals(s, source));
        }
    }

    internal static BrightDbDataSource[] Live()
    {
        lock (SourcesLock)
        {
            return Sources.Select(w => w.TryGetTarget(out var s) ? s : null).OfType<BrightDbDataSource>().ToArray();
        }
    }
}
