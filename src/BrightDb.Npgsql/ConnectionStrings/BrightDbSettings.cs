using Npgsql;

namespace BrightDb.Npgsql.ConnectionStrings;

/// <summary>
/// The validated, immutable settings of one data source: this driver's options, the hosts the user listed,
/// and the Npgsql connection string every per-server data source is made from.
/// </summary>
sealed class BrightDbSettings
{
    BrightDbSettings(NpgsqlConnectionStringBuilder npgsql, IReadOnlyList<HostAndPort> listedHosts)
    {
        NpgsqlTemplate = npgsql;
        ListedHosts = listedHosts;
    }

    internal LoadBalanceMode LoadBalance { get; private init; }
    internal IReadOnlyList<TopologyKey> TopologyKeys { get; private init; } = [];
    internal TimeSpan RefreshInterval { get; private init; }
    internal TimeSpan ReconnectDelay { get; private init; }
    internal bool FallbackToTopologyKeysOnly { get; private init; }
    internal TimeSpan HedgedOpenDelay { get; private init; }
    internal int MaxConnectingPerServer { get; private init; }
    internal ServerAddressChoice ServerAddresses { get; private init; }
    internal IReadOnlyList<HostAndPort> ListedHosts { get; }

    /// <summary>The pools' idle lifetime with balancing on, unless set: an idle connection is closed after 15 s (Npgsql: 300 s).</summary>
    internal const int BalancedIdleLifetimeSeconds = 15;

    /// <summary>How often the pools count their idle connections with balancing on, unless set (Npgsql: 10 s).</summary>
    internal const int BalancedPruningIntervalSeconds = 1;

    /// <summary>
    /// How old a server's last state check may be before Npgsql checks an idle connection of it again, pooled with balancing
    /// on, unless set (Npgsql: 10 s; unpooled the driver uses 0). The driver's watch of each server covers the time in between.
    /// </summary>
    internal const int BalancedHostRecheckSeconds = 1;

    /// <summary>Npgsql's settings without Host and Port; never handed out as is (it holds the password).</summary>
    NpgsqlConnectionStringBuilder NpgsqlTemplate { get; }

    internal bool Pooling => NpgsqlTemplate.Pooling;

    /// <summary>The connection string's password, if any.</summary>
    internal string? Password => NpgsqlTemplate.Password;
    internal int MaxPoolSize => NpgsqlTemplate.MaxPoolSize;

    /// <summary>
    /// Whether each server used gets a <see cref="Pooling.ServerWatch"/>: pooled, with Npgsql's check of idle connections
    /// not on every open (<c>Host Recheck Seconds</c> above 0: the driver's default of 1 s, pooled with balancing on).
    /// </summary>
    internal bool WatchServers => Pooling && NpgsqlTemplate.HostRecheckSeconds > 0;

    /// <summary><c>Host Recheck Seconds</c>: how long a check of a server's idle connection vouches for the others.</summary>
    internal TimeSpan HostRecheck => TimeSpan.FromSeconds(NpgsqlTemplate.HostRecheckSeconds);

    /// <summary><c>Timeout</c> in seconds, as Npgsql counts it (0: no limit); what a check of an idle connection may take.</summary>
    internal int TimeoutSeconds => NpgsqlTemplate.Timeout;
    internal TimeSpan ConnectTimeout => TimeSpan.FromSeconds(NpgsqlTemplate.Timeout);

    /// <summary>Whether <c>Timeout</c> bounds an open (0 means no limit, as in Npgsql).</summary>
    internal bool HasConnectTimeout => NpgsqlTemplate.Timeout > 0;

    /// <summary>
    /// How many servers may follow a server in its data source's host list: two, or fewer when <c>Timeout</c> is too short to
    /// give each host a whole second of its own (Npgsql's <c>Timeout</c> counts in seconds).
    /// </summary>
    internal int MaxFallbacks => HasConnectTimeout ? Math.Clamp(NpgsqlTemplate.Timeout - 1, 0, 2) : 2;

    /// <summary>The whole Npgsql connection string, multi-host as the user gave it: what plain Npgsql gets when balancing is off.</summary>
    internal string NpgsqlConnectionString(bool includePassword)
    {
        var b = Clone(includePassword);
        b.Host = string.Join(',', ListedHosts.Select(h => h.ToString()));
        b.Remove("Port");
        return b.ConnectionString;
    }

    /// <summary>
    /// The Npgsql connection string of one server's data source: that server first, then <paramref name="fallbacks"/>, for
    /// Npgsql's multi-host failover within one open (hosts in order, no load balancing of its own, any server type), each
    /// host with its share of <c>Timeout</c>.
    /// </summary>
    internal string ForServer(HostAndPort server, IReadOnlyList<HostAndPort> fallbacks)
    {
        var b = Clone(includePassword: true);
        if (fallbacks.Count == 0)
        {
            b.Host = server.Host;
            b.Port = server.Port;
        }
        else
        {
            b.Host = string.Join(',', [server.ToString(), .. fallbacks.Select(f => f.ToString())]);
            b.Remove("Port");
            // Npgsql gives each host of the list the whole Timeout: each gets its share instead, so that the open as a whole
            // (this server and its fallbacks, one after another) stays within the Timeout the application set.
            if (b.Timeout > 0)
                b.Timeout = Math.Max(1, b.Timeout / (1 + fallbacks.Count));
        }

        b.Remove("Target Session Attributes");
        b.Remove("Load Balance Hosts");
        return b.ConnectionString;
    }

    /// <summary>The Npgsql connection string of one server alone.</summary>
    internal string ForServer(string host, int port) => ForServer(new HostAndPort(host, port), []);

    /// <summary>What the driver's own connections add to the application's name, so that a server's list of connections tells them apart.</summary>
    internal const string ControlApplicationSuffix = "(BrightDB control)";

    /// <summary>
    /// The Npgsql connection string of the driver's own queries on one server: that server alone, unpooled, named after
    /// the application with <see cref="ControlApplicationSuffix"/>.
    /// </summary>
    internal string ForControl(HostAndPort server)
    {
        var b = new NpgsqlConnectionStringBuilder(ForServer(server.Host, server.Port)) { Pooling = false };
        b.ApplicationName = string.IsNullOrEmpty(b.ApplicationName) ? ControlApplicationSuffix : $"{b.ApplicationName} {ControlApplicationSuffix}";
        return b.ConnectionString;
    }

    NpgsqlConnectionStringBuilder Clone(bool includePassword)
    {
        var b = new NpgsqlConnectionStringBuilder(NpgsqlTemplate.ConnectionString);
        if (!includePassword && !b.PersistSecurityInfo)
        {
            // Every secret, not only Password: SSL Password unlocks the client key.
            foreach (var key in b.Keys.Where(Keywords.IsSecret).ToList())
                b.Remove(key);
        }

        return b;
    }

    internal static BrightDbSettings From(BrightDbConnectionStringBuilder source)
    {
        ArgumentNullException.ThrowIfNull(source);
        var npgsql = new NpgsqlConnectionStringBuilder();
        string? hosts = null, ports = null;
        foreach (string key in source.Keys)
        {
            if (Keywords.Driver.ContainsKey(Keywords.Normalize(key)))
                continue;
            var value = (string)source[key];
            if (key == "Host")
                hosts = value;
            else if (key == "Port")
                ports = value;
            else
                npgsql[key] = value;
        }

        // Npgsql prefers GSS encryption by default, and attempting it where Kerberos is not set up can stall a physical
        // connection for seconds (seen here: about one open in tens waited exactly 5 s). A stall reads as a hung server to
        // failover, so the driver connects without GSS encryption unless the application asks for it.
        if (!source.ContainsKey("GSS Encryption Mode"))
            npgsql.GssEncryptionMode = GssEncryptionMode.Disable;

        if (string.IsNullOrWhiteSpace(hosts))
            throw new ArgumentException("The connection string has no Host: give at least one server of the cluster (Host=h1,h2 or host=h1,h2).", nameof(source));

        var listed = HostAndPort.ParseList(hosts, ports);
        var keys = source.TopologyKeys is { Length: > 0 } t && t.Trim().Length > 0
            ? TopologyKey.ParseList(t, Keywords.TopologyKeys)
            : [];

        var mode = source.LoadBalanceHosts;
        if (keys.Count > 0 && mode == LoadBalanceMode.Disabled)
        {
            // Topology keys alone mean "balance, preferring these placements", as in the psycopg2-brightdb examples;
            // an explicit load_balance=false next to them is a contradiction worth reporting.
            if (source.ContainsKey(Keywords.LoadBalanceHosts))
            {
                throw new ArgumentException(
                    $"The connection keyword '{Keywords.TopologyKeys}' needs load balancing, but '{Keywords.LoadBalanceHosts}' is false. " +
                    "Remove one of them, or set Load Balance Hosts=true.", nameof(source));
            }

            mode = LoadBalanceMode.Any;
        }

        if (mode != LoadBalanceMode.Disabled && npgsql.TargetSessionAttributes is { } tsa && !tsa.Equals("any", StringComparison.OrdinalIgnoreCase))
        {
            throw new ArgumentException(
                $"Invalid value '{tsa}' for connection keyword 'Target Session Attributes' with load balancing on: " +
                "choose servers by type with Load Balance Hosts=only-primary, only-rr, prefer-primary or prefer-rr instead.", nameof(source));
        }

        // Npgsql's multi-host data source checks a server's state (one round trip) on an idle connection before handing it
        // out once the last check is older than Host Recheck Seconds, and passes over to the next host when the check fails.
        // Pooled with balancing on, the driver makes that 1 s (Npgsql: 10 s) and watches each server it uses (ServerWatch):
        // a server that is killed, stopped or restarted ends the watch together with the idle connections, and the driver
        // closes them before they are handed out, at no cost per open. A server quiet for a second gets its idle connection
        // checked on the next open, which covers a server gone silent without closing anything. An application that wants
        // every idle connection checked, whatever it costs, sets Host Recheck Seconds=0 (no watch then). Unpooled, nothing
        // idles: 0, a check after each new connection, as before (no watch, and no host skipped by Npgsql for a second).
        if (mode != LoadBalanceMode.Disabled && !source.ContainsKey("Host Recheck Seconds"))
            npgsql.HostRecheckSeconds = npgsql.Pooling ? BalancedHostRecheckSeconds : 0;

        // Server connections follow the cluster: after a server joins (or comes back), opens go to it, and the idle
        // connections this leaves on the other servers are closed by Npgsql's pruning once idle for the pool's idle
        // lifetime. Npgsql's 300 s would keep the servers' connection counts uneven for minutes; the driver retires them
        // within about two idle lifetimes. Each stays the application's to set (the pruning interval may not exceed the
        // idle lifetime, which Npgsql checks).
        if (mode != LoadBalanceMode.Disabled && npgsql.Pooling)
        {
            if (!source.ContainsKey("Connection Idle Lifetime"))
                npgsql.ConnectionIdleLifetime = Math.Max(BalancedIdleLifetimeSeconds, npgsql.ConnectionPruningInterval);
            if (!source.ContainsKey("Connection Pruning Interval") && npgsql.ConnectionIdleLifetime >= BalancedPruningIntervalSeconds)
                npgsql.ConnectionPruningInterval = BalancedPruningIntervalSeconds;
        }

        return new BrightDbSettings(npgsql, listed)
        {
            LoadBalance = mode,
            TopologyKeys = keys,
            RefreshInterval = TimeSpan.FromSeconds(source.YBServersRefreshInterval),
            ReconnectDelay = TimeSpan.FromSeconds(source.FailedHostReconnectDelaySecs),
            FallbackToTopologyKeysOnly = source.FallbackToTopologyKeysOnly,
            HedgedOpenDelay = TimeSpan.FromMilliseconds(source.HedgedOpenDelay),
            MaxConnectingPerServer = source.MaxConnectingPerServer,
            ServerAddresses = DriverValues.ParseServerAddresses(source.ServerAddresses, Keywords.ServerAddresses),
        };
    }
}
