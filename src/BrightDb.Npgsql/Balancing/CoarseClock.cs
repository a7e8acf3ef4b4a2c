namespace BrightDb.Npgsql.Balancing;

/// <summary>
/// A data source's <see cref="TimeProvider"/> read at millisecond resolution, for what is recorded on every open (a
/// server's last sign of life). The system clock is read through <see cref="Environment.TickCount64"/> (a few nanoseconds
/// instead of the twenty of a precise timestamp); any other provider, a test's fake one, as it is.
/// </summary>
readonly struct CoarseClock
{
    readonly TimeProvider? _fake;
    readonly long _unitsPerMillisecond;

    internal CoarseClock(TimeProvider time)
    {
        _fake = ReferenceEquals(time, TimeProvider.System) ? null : time;
        _unitsPerMillisecond = _fake is null ? 1 : Math.Max(1, _fake.TimestampFrequency / 1000);
    }

    /// <summary>Now, in this clock's units (never 0 once the process has run a millisecond).</summary>
    internal long Now() => _fake is null ? Environment.TickCount64 : _fake.GetTimestamp();

    /// <summary>One millisecond, in this clock's units.</summary>
    internal long Millisecond => _unitsPerMillisecond;

    /// <summary><paramref name="span"/> in this clock's units.</summary>
    internal long Units(TimeSpan span) => (long)(span.TotalMilliseconds * _unitsPerMillisecond);
}
