namespace BmSampleApps.Running;

/// <summary>
/// Latencies in buckets 2% wide (10 µs to about 100 s), so that percentiles of a long run cost a fixed amount of memory.
/// Not thread-safe: <see cref="Measurements"/> guards it.
/// </summary>
sealed class LatencyHistogram
{
    const double Smallest = 0.01; // milliseconds
    static readonly double Step = Math.Log(1.02);
    readonly long[] _buckets = new long[820];

    public long Count { get; private set; }

    public void Add(double milliseconds)
    {
        var index = milliseconds <= Smallest ? 0 : (int)(Math.Log(milliseconds / Smallest) / Step) + 1;
        _buckets[Math.Min(index, _buckets.Length - 1)]++;
        Count++;
    }

    public void Add(LatencyHistogram other)
    {
        for (var i = 0; i < _buckets.Length; i++)
            _buckets[i] += other._buckets[i];
        Count += other.Count;
    }

    /// <summary>The latency (milliseconds, the bucket's upper edge) under which <paramref name="fraction"/> of the operations fell; 0 when none.</summary>
    public double Percentile(double fraction)
    {
        if (Count == 0)
            return 0;
        var rank = (long)Math.Ceiling(fraction * Count);
        long seen = 0;
        for (var i = 0; i < _buckets.Length; i++)
        {
            seen += _buckets[i];
            if (seen >= rank)
                return i == 0 ? Smallest : Smallest * Math.Pow(1.02, i);
        }

        return Smallest * Math.Pow(1.02, _buckets.Length - 1);
    }
}
