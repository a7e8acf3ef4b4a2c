using System.Collections.Frozen;

namespace BrightDb.Npgsql.ConnectionStrings;

/// <summary>
/// The keywords this driver owns, the libpq/psycopg2 names users bring from other drivers, and the rule that
/// matches them: case, spaces, <c>_</c> and <c>-</c> are ignored, so <c>load_balance</c>, <c>Load Balance</c>
/// and <c>LoadBalance</c> are one keyword.
/// </summary>
static class Keywords
{
    internal const string LoadBalanceHosts = "Load Balance Hosts";
    internal const string TopologyKeys = "Topology Keys";
    internal const string YBServersRefreshInterval = "YB Servers Refresh Interval";
    internal const string FailedHostReconnectDelaySecs = "Failed Host Reconnect Delay Secs";
    internal const string FallbackToTopologyKeysOnly = "Fallback To Topology Keys Only";
    internal const string HedgedOpenDelay = "Hedged Open Delay";
    internal const string MaxConnectingPerServer = "Max Connecting Per Server";
    internal const string ServerAddresses = "Server Addresses";

    /// <summary>Our keywords, by normalized alias.</summary>
    internal static readonly FrozenDictionary<string, string> Driver = new Dictionary<string, string>
    {
        ["loadbalancehosts"] = LoadBalanceHosts,
        ["loadbalance"] = LoadBalanceHosts,
        ["topologykeys"] = TopologyKeys,
        ["ybserversrefreshinterval"] = YBServersRefreshInterval,
        ["failedhostreconnectdelaysecs"] = FailedHostReconnectDelaySecs,
        ["failedhostttlseconds"] = FailedHostReconnectDelaySecs,
        ["fallbacktotopologykeysonly"] = FallbackToTopologyKeysOnly,
        ["hedgedopendelay"] = HedgedOpenDelay,
        ["hedgedopendelayms"] = HedgedOpenDelay,
        ["maxconnectingperserver"] = MaxConnectingPerServer,
        ["maxconnecting"] = MaxConnectingPerServer,
        ["serveraddresses"] = ServerAddresses,
    }.ToFrozenDictionary();

    /// <summary>The canonical names of our keywords, in documentation order.</summary>
    internal static readonly IReadOnlyList<string> DriverCanonical =
        [LoadBalanceHosts, TopologyKeys, YBServersRefreshInterval, FailedHostReconnectDelaySecs, FallbackToTopologyKeysOnly, HedgedOpenDelay, MaxConnectingPerServer, ServerAddresses];

    /// <summary>
    /// libpq (psycopg2) names whose Npgsql name differs by more than case, spaces, '_' and '-'.
    /// Names that only differ by those (application_name, sslmode, …) are found by <see cref="NpgsqlKeywordNames"/>.
    /// </summary>
    internal static readonly FrozenDictionary<string, string> Libpq = new Dictionary<string, string>
    {
        ["dbname"] = "Database",
        ["user"] = "Username",
        ["connecttimeout"] = "Timeout",
        ["sslcert"] = "SSL Certificate",
        ["sslkey"] = "SSL Key",
        ["sslrootcert"] = "Root Certificate",
        ["sslpassword"] = "SSL Password",
        ["targetsessionattrs"] = "Target Session Attributes",
        ["keepalivesidle"] = "Tcp Keepalive Time",
        ["keepalivesinterval"] = "Tcp Keepalive Interval",
        ["clientencoding"] = "Client Encoding",
        ["gssencmode"] = "GSS Encryption Mode",
        ["hostaddr"] = "Host",
    }.ToFrozenDictionary();

    /// <summary>
    /// The Npgsql spelling of a libpq (psycopg2) value that Npgsql spells otherwise: <c>sslmode=verify-full</c> is
    /// <c>SSL Mode=VerifyFull</c>. Accepted in every form; any other value is returned as it is.
    /// </summary>
    internal static string LibpqValue(string canonicalKeyword, string value) =>
        canonicalKeyword == "SSL Mode" && Normalize(value) switch
        {
            "verifyfull" => "VerifyFull",
            "verifyca" => "VerifyCA",
            _ => null,
        } is { } npgsql
            ? npgsql
            : value;

    /// <summary>Keywords whose values are secrets: never echoed in an exception, a log line or <c>ToString()</c>.</summary>
    internal static bool IsSecret(string canonicalKeyword) =>
        Normalize(canonicalKeyword) is "password" or "sslpassword" or "psw" or "pwd";

    /// <summary>Lower case without spaces, '_' or '-'.</summary>
    internal static string Normalize(string keyword)
    {
        Span<char> buffer = keyword.Length <= 128 ? stackalloc char[keyword.Length] : new char[keyword.Length];
        var n = 0;
        foreach (var c in keyword)
        {
            if (c is ' ' or '_' or '-' or '\t')
                continue;
            buffer[n++] = char.ToLowerInvariant(c);
        }

        return new string(buffer[..n]);
    }
}
