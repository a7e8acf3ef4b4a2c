using System.Collections;
using System.Data.Common;
using System.Globalization;
using BrightDb.Npgsql.ConnectionStrings;
using Npgsql;

namespace BrightDb.Npgsql;

/// <summary>
/// The properties of a BrightDB connection: this driver's keywords (<c>Load Balance Hosts</c>, <c>Topology Keys</c>,
/// <c>YB Servers Refresh Interval</c>, <c>Failed Host Reconnect Delay Secs</c>, <c>Fallback To Topology Keys Only</c>,
/// <c>Hedged Open Delay</c>, <c>Max Connecting Per Server</c>) and every keyword of Npgsql.
/// Decision owned (docs/architecture.md): parse (which keywords and values are valid; <c>ConnectionStringForms</c> only splits the four forms).
/// </summary>
/// <remarks>
/// Keywords may be written in any case and with spaces, <c>_</c> or <c>-</c> between words; libpq/psycopg2 names
/// (<c>dbname</c>, <c>user</c>, <c>connect_timeout</c>, <c>sslmode</c>, …) are accepted for their Npgsql equivalents.
/// Keys are stored under their canonical names. Every value is validated when it is set, and an invalid one throws an
/// <see cref="ArgumentException"/> that names the keyword, the value (never a password) and what is accepted.
/// </remarks>
public sealed class BrightDbConnectionStringBuilder : DbConnectionStringBuilder
{
    /// <summary>The SQL port of BrightDB, used when no port is given.</summary>
    public const int DefaultPort = 2521;

    /// <summary>Creates an empty builder.</summary>
    public BrightDbConnectionStringBuilder()
    {
    }

    /// <summary>
    /// Creates a builder from a connection string in ADO.NET (<c>Host=h;Load Balance Hosts=true</c>),
    /// libpq (<c>host=h load_balance=true</c>) or URI (<c>postgresql://user@h:2521/db?load_balance=true</c>) form.
    /// </summary>
    /// <exception cref="ArgumentException">The string is malformed or holds an unknown keyword or an invalid value.</exception>
    public BrightDbConnectionStringBuilder(string connectionString)
    {
        foreach (var (key, value) in ConnectionStringForms.Split(connectionString))
            this[key] = value;
    }

    /// <summary>
    /// Creates a builder from keyword/value pairs, as psycopg2's <c>connect(**kwargs)</c>: values may be strings,
    /// booleans or numbers (<c>load_balance = "True"</c>, <c>port = 2521</c>); <see langword="null"/> values are skipped.
    /// </summary>
    /// <exception cref="ArgumentException">An unknown keyword or an invalid value.</exception>
    public BrightDbConnectionStringBuilder(IReadOnlyDictionary<string, object?> properties)
    {
        ArgumentNullException.ThrowIfNull(properties);
        foreach (var (key, value) in properties)
        {
            if (value is not null)
                this[key] = value;
        }
    }

    /// <summary>Gets or sets the value of a keyword, under any of its accepted spellings.</summary>
    /// <exception cref="ArgumentException">An unknown keyword or an invalid value.</exception>
    [System.Diagnostics.CodeAnalysis.AllowNull]
    public override object this[string keyword]
    {
        get
        {
            var canonical = Resolve(keyword, out _);
            return TryGetValue(canonical, out var value) ? value : null!;
        }
        set
        {
            var canonical = Resolve(keyword, out var owner);
            if (value is null)
            {
                base.Remove(canonical);
                return;
            }

            var text = ToInvariantString(value);
            if (owner == KeywordOwner.Driver)
                DriverValues.Validate(canonical, text);
            else if (canonical == "Port" && text.Contains(','))
                ValidatePortList(text);
            else
                text = ValidateWithNpgsql(canonical, Keywords.LibpqValue(canonical, text));
            base[canonical] = text;
        }
    }

    /// <inheritdoc />
    public override bool ContainsKey(string keyword) => TryResolve(keyword, out var canonical, out _) && base.ContainsKey(canonical);

    /// <inheritdoc />
    public override bool Remove(string keyword) => TryResolve(keyword, out var canonical, out _) && base.Remove(canonical);

    /// <inheritdoc />
    public override bool TryGetValue(string keyword, out object value)
    {
        if (TryResolve(keyword, out var canonical, out _))
            return base.TryGetValue(canonical, out value!);
        value = null!;
        return false;
    }

    /// <summary>The connection string without secrets: passwords are replaced by <c>***</c>.</summary>
    public override string ToString()
    {
        var copy = new DbConnectionStringBuilder();
        foreach (string key in Keys)
            copy[key] = Keywords.IsSecret(key) ? "***" : base[key];
        return copy.ConnectionString;
    }

    /// <summary>Host name(s): a comma-separated list of <c>host</c> or <c>host:port</c>.</summary>
    public string? Host { get => Get("Host"); set => this["Host"] = value; }

    /// <summary>
    /// The port used for hosts listed without one; 2521 when not set. libpq's form with one port per listed host
    /// (<c>port=2521,2522</c>) is accepted too; this property then returns the first.
    /// </summary>
    public int Port
    {
        get => Get("Port") is { } v ? int.Parse(v.Split(',')[0], NumberStyles.Integer, CultureInfo.InvariantCulture) : DefaultPort;
        set => this["Port"] = value;
    }

    /// <summary>The database to connect to.</summary>
    public string? Database { get => Get("Database"); set => this["Database"] = value; }

    /// <summary>The user name.</summary>
    public string? Username { get => Get("Username"); set => this["Username"] = value; }

    /// <summary>The password. Never shown by <see cref="ToString"/>, in exceptions or in logs.</summary>
    public string? Password { get => Get("Password"); set => this["Password"] = value; }

    /// <summary><c>Load Balance Hosts</c>: how new connections are spread over the cluster. Default <see cref="LoadBalanceMode.Disabled"/>.</summary>
    public LoadBalanceMode LoadBalanceHosts
    {
        get => Get(Keywords.LoadBalanceHosts) is { } v ? DriverValues.ParseLoadBalance(v, Keywords.LoadBalanceHosts) : LoadBalanceMode.Disabled;
        set => this[Keywords.LoadBalanceHosts] = DriverValues.Format(value);
    }

    /// <summary><c>Topology Keys</c>: comma-separated <c>cloud.region.zone[:n]</c> placements to prefer, level n from 1 (most preferred) to 10.</summary>
    public string? TopologyKeys { get => Get(Keywords.TopologyKeys); set => this[Keywords.TopologyKeys] = value; }

    /// <summary><c>YB Servers Refresh Interval</c>: seconds (0 to 600) between refreshes of the server list; 0 refreshes before every new connection. Default 300.</summary>
    public int YBServersRefreshInterval { get => GetInt(Keywords.YBServersRefreshInterval, DriverValues.DefaultRefreshIntervalSeconds); set => this[Keywords.YBServersRefreshInterval] = value; }

    /// <summary><c>Failed Host Reconnect Delay Secs</c>: seconds (0 to 60) a server that failed is skipped before one open tries it again. Default 5.</summary>
    public int FailedHostReconnectDelaySecs { get => GetInt(Keywords.FailedHostReconnectDelaySecs, DriverValues.DefaultReconnectDelaySeconds); set => this[Keywords.FailedHostReconnectDelaySecs] = value; }

    /// <summary><c>Fallback To Topology Keys Only</c>: when no server matching <see cref="TopologyKeys"/> is available, fail instead of using the rest of the cluster. Default false.</summary>
    public bool FallbackToTopologyKeysOnly
    {
        get => Get(Keywords.FallbackToTopologyKeysOnly) is { } v && DriverValues.ParseBool(v, Keywords.FallbackToTopologyKeysOnly);
        set => this[Keywords.FallbackToTopologyKeysOnly] = value;
    }

    /// <summary>
    /// <c>Hedged Open Delay</c>: milliseconds (0 to 60000) an asynchronous open waits for a server to answer before it
    /// also tries the next best server and takes whichever answers first; the slow server is skipped by other opens
    /// meanwhile. 0 turns hedging off. Default 2000.
    /// </summary>
    public int HedgedOpenDelay { get => GetInt(Keywords.HedgedOpenDelay, DriverValues.DefaultHedgedOpenDelayMilliseconds); set => this[Keywords.HedgedOpenDelay] = value; }

    /// <summary>
    /// <c>Max Connecting Per Server</c>: how many opens (in effect, new physical connections) may be in progress on one
    /// server at once (1 to 1000); more wait for a place, at most <see cref="Timeout"/>. Paces bursts, so that a cold start
    /// or a server joining the cluster does not receive every new connection at once. Default 2.
    /// </summary>
    public int MaxConnectingPerServer
    {
        get => GetInt(Keywords.MaxConnectingPerServer, DriverValues.DefaultMaxConnectingPerServer);
        set => this[Keywords.MaxConnectingPerServer] = value;
    }

    /// <summary>
    /// <c>Server Addresses</c>: which address of each discovered server to connect to: <c>auto</c> (its <c>public_ip</c> when
    /// an address the application was given is one of the servers' public addresses, its <c>host</c> otherwise),
    /// <c>public</c> or <c>private</c> (<c>host</c>). Default auto.
    /// </summary>
    public string ServerAddresses
    {
        get => Get(Keywords.ServerAddresses) is { } v ? DriverValues.Format(DriverValues.ParseServerAddresses(v, Keywords.ServerAddresses)) : "auto";
        set => this[Keywords.ServerAddresses] = value;
    }

    /// <summary>Npgsql's <c>Pooling</c>: whether each server's connections are pooled. Default true.</summary>
    public bool Pooling { get => Get("Pooling") is not { } v || bool.Parse(v); set => this["Pooling"] = value; }

    /// <summary>Npgsql's <c>Minimum Pool Size</c>, per server.</summary>
    public int MinPoolSize { get => GetInt("Minimum Pool Size", 0); set => this["Minimum Pool Size"] = value; }

    /// <summary>Npgsql's <c>Maximum Pool Size</c>, per server. Default 100.</summary>
    public int MaxPoolSize { get => GetInt("Maximum Pool Size", 100); set => this["Maximum Pool Size"] = value; }

    /// <summary>Npgsql's <c>Timeout</c>: seconds to wait for one connection attempt to one server. Default 15.</summary>
    public int Timeout { get => GetInt("Timeout", 15); set => this["Timeout"] = value; }

    string? Get(string canonical) => base.TryGetValue(canonical, out var v) ? (string)v : null;

    int GetInt(string canonical, int fallback) =>
        Get(canonical) is { } v ? int.Parse(v, NumberStyles.Integer, CultureInfo.InvariantCulture) : fallback;

    enum KeywordOwner { Driver, Npgsql }

    static string Resolve(string keyword, out KeywordOwner owner)
    {
        ArgumentNullException.ThrowIfNull(keyword);
        if (TryResolve(keyword, out var canonical, out owner))
            return canonical;
        // A "keyword" that is no plain name may hold a value: in ADO.NET syntax '==' escapes '=' inside a keyword, so
        // "Password==secret;…" yields the keyword "password=secret;…". Such a keyword is not echoed.
        var shown = keyword.Length <= 64 && keyword.All(c => char.IsLetterOrDigit(c) || c is ' ' or '_' or '-' or '.')
            ? $"'{keyword}'"
            : "(not shown: it is not a plain name and may hold part of a value; check for '==' or a misplaced ';')";
        throw new ArgumentException(
            $"Unknown connection keyword {shown}. Accepted: {string.Join(", ", Keywords.DriverCanonical)}, " +
            "libpq names (dbname, user, connect_timeout, sslmode, application_name, …) and every Npgsql keyword.",
            nameof(keyword));
    }

    static bool TryResolve(string keyword, out string canonical, out KeywordOwner owner)
    {
        var normalized = Keywords.Normalize(keyword);
        if (Keywords.Driver.TryGetValue(normalized, out canonical!))
        {
            owner = KeywordOwner.Driver;
            return true;
        }

        owner = KeywordOwner.Npgsql;
        if (Keywords.Libpq.TryGetValue(normalized, out canonical!))
            return true;
        return NpgsqlKeywordNames.TryGetCanonical(keyword, normalized, out canonical);
    }

    static void ValidatePortList(string value)
    {
        foreach (var part in value.Split(','))
        {
            if (!int.TryParse(part.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
            {
                throw new ArgumentException(
                    $"Invalid value '{value}' for connection keyword 'Port': expected a port from 1 to 65535, or one per listed host separated by commas.",
                    nameof(value));
            }
        }
    }

    static string ValidateWithNpgsql(string canonical, string value)
    {
        var probe = new NpgsqlConnectionStringBuilder();
        try
        {
            probe[canonical] = value;
        }
        catch (Exception e) when (e is ArgumentException or FormatException or OverflowException or InvalidCastException)
        {
            var shown = Keywords.IsSecret(canonical) ? "***" : value;
            var why = Keywords.IsSecret(canonical) ? "" : $": {(e.InnerException ?? e).Message}";
            throw new ArgumentException($"Invalid value '{shown}' for connection keyword '{canonical}'{why}", nameof(value));
        }

        return value;
    }

    static string ToInvariantString(object value) => value switch
    {
        string s => s,
        bool b => b ? "true" : "false",
        LoadBalanceMode m => DriverValues.Format(m),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };
}
