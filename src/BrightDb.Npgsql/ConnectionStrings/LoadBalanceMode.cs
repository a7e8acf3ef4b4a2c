namespace BrightDb.Npgsql;

/// <summary>
/// How a <see cref="BrightDbDataSource"/> spreads new connections over the servers of a cluster
/// (the <c>Load Balance Hosts</c> / <c>load_balance</c> keyword).
/// </summary>
public enum LoadBalanceMode
{
    /// <summary><c>false</c>: no balancing; the data source behaves exactly like plain Npgsql, multi-host failover included.</summary>
    Disabled = 0,

    /// <summary><c>true</c> or <c>any</c>: every server of the cluster, primary or read replica.</summary>
    Any,

    /// <summary><c>only-primary</c>: primary servers only; opening fails when none is available.</summary>
    OnlyPrimary,

    /// <summary><c>only-rr</c>: read replicas only; opening fails when none is available.</summary>
    OnlyReadReplica,

    /// <summary><c>prefer-primary</c>: primary servers while one is available, read replicas otherwise.</summary>
    PreferPrimary,

    /// <summary><c>prefer-rr</c>: read replicas while one is available, primary servers otherwise.</summary>
    PreferReadReplica,
}
