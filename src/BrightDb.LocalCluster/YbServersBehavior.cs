namespace BrightDb.LocalCluster;

/// <summary>How <c>yb_servers()</c> behaves on every node of a cluster: the discovery faults a driver must survive.</summary>
public abstract record YbServersBehavior
{
    private protected YbServersBehavior()
    {
    }

    /// <summary>Returns the cluster's membership (or the override rows, when set).</summary>
    public static YbServersBehavior Normal { get; } = new NormalBehavior();

    /// <summary>Raises an error (SQLSTATE XX000) on every call.</summary>
    public static YbServersBehavior Fail { get; } = new FailBehavior();

    /// <summary>Behaves as if the function did not exist: raises <c>undefined_function</c> (SQLSTATE 42883).</summary>
    public static YbServersBehavior Missing { get; } = new MissingBehavior();

    /// <summary>Sleeps for <paramref name="delay"/> before returning the rows.</summary>
    /// <param name="delay">How long each call sleeps; zero or more.</param>
    /// <returns>The behaviour.</returns>
    public static YbServersBehavior Slow(TimeSpan delay)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(delay, TimeSpan.Zero);
        return new SlowBehavior(delay);
    }

    /// <summary>The name stored in the membership file and interpreted by the SQL function.</summary>
    internal abstract string WireName { get; }

    /// <summary>The sleep, for <see cref="Slow"/>.</summary>
    internal virtual TimeSpan Delay => TimeSpan.Zero;

    /// <summary>The behaviour a membership or state file names (<see cref="WireName"/> and the delay); unknown names are normal.</summary>
    internal static YbServersBehavior FromWire(string name, long delayMs) => name switch
    {
        "fail" => Fail,
        "missing" => Missing,
        "slow" => Slow(TimeSpan.FromMilliseconds(delayMs)),
        _ => Normal,
    };

    sealed record NormalBehavior : YbServersBehavior
    {
        internal override string WireName => "normal";
    }

    sealed record FailBehavior : YbServersBehavior
    {
        internal override string WireName => "fail";
    }

    sealed record MissingBehavior : YbServersBehavior
    {
        internal override string WireName => "missing";
    }

    sealed record SlowBehavior(TimeSpan SleepFor) : YbServersBehavior
    {
        internal override string WireName => "slow";

        internal override TimeSpan Delay => SleepFor;
    }
}
