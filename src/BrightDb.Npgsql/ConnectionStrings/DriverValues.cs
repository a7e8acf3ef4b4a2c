using System.Globalization;

namespace BrightDb.Npgsql.ConnectionStrings;

/// <summary>Parsing and validation of the values of this driver's own keywords.</summary>
static class DriverValues
{
    internal const int DefaultRefreshIntervalSeconds = 300;
    internal const int MaxRefreshIntervalSeconds = 600;
    internal const int DefaultReconnectDelaySeconds = 5;
    internal const int MaxReconnectDelaySeconds = 60;
    internal const int DefaultHedgedOpenDelayMilliseconds = 2000;
    internal const int MaxHedgedOpenDelayMilliseconds = 60000;
    internal const int DefaultMaxConnectingPerServer = 2;
    internal const int MaxMaxConnectingPerServer = 1000;

    internal static void Validate(string canonical, string value)
    {
        switch (canonical)
        {
            case Keywords.LoadBalanceHosts:
                ParseLoadBalance(value, canonical);
                break;
            case Keywords.TopologyKeys:
                if (value.Trim().Length > 0)
                    TopologyKey.ParseList(value, canonical);
                break;
            case Keywords.YBServersRefreshInterval:
                ParseSeconds(value, canonical, MaxRefreshIntervalSeconds);
                break;
            case Keywords.FailedHostReconnectDelaySecs:
                ParseSeconds(value, canonical, MaxReconnectDelaySeconds);
                break;
            case Keywords.FallbackToTopologyKeysOnly:
                ParseBool(value, canonical);
                break;
            case Keywords.HedgedOpenDelay:
                ParseMilliseconds(value, canonical, MaxHedgedOpenDelayMilliseconds);
                break;
            case Keywords.MaxConnectingPerServer:
                ParseCount(value, canonical, 1, MaxMaxConnectingPerServer);
                break;
            case Keywords.ServerAddresses:
                ParseServerAddresses(value, canonical);
                break;
        }
    }

    /// <summary><c>Server Addresses</c>: <c>auto</c>, <c>public</c> or <c>private</c>.</summary>
    internal static ServerAddressChoice ParseServerAddresses(string value, string keyword) => Keywords.Normalize(value) switch
    {
        "auto" => ServerAddressChoice.Auto,
        "public" => ServerAddressChoice.Public,
        "private" => ServerAddressChoice.Private,
        _ => throw new ArgumentException(
            $"Invalid value '{value}' for connection keyword '{keyword}'. Expected one of: auto, public, private.", nameof(value)),
    };

    internal static string Format(ServerAddressChoice choice) => choice switch
    {
        ServerAddressChoice.Public => "public",
        ServerAddressChoice.Private => "private",
        _ => "auto",
    };

    internal static LoadBalanceMode ParseLoadBalance(string value, string keyword)
    {
        var normalized = Keywords.Normalize(value);
        return normalized switch
        {
            "false" or "0" or "no" or "off" or "disable" or "disabled" => LoadBalanceMode.Disabled,
            "true" or "1" or "yes" or "on" or "any" => LoadBalanceMode.Any,
            "onlyprimary" => LoadBalanceMode.OnlyPrimary,
            "onlyrr" => LoadBalanceMode.OnlyReadReplica,
            "preferprimary" => LoadBalanceMode.PreferPrimary,
            "preferrr" => LoadBalanceMode.PreferReadReplica,
            _ => throw new ArgumentException(
                $"Invalid value '{value}' for connection keyword '{keyword}'. Expected one of: false, true (or any), " +
                "only-primary, only-rr, prefer-primary, prefer-rr (the hyphen is optional).", nameof(value)),
        };
    }

    internal static string Format(LoadBalanceMode mode) => mode switch
    {
        LoadBalanceMode.Disabled => "false",
        LoadBalanceMode.Any => "true",
        LoadBalanceMode.OnlyPrimary => "only-primary",
        LoadBalanceMode.OnlyReadReplica => "only-rr",
        LoadBalanceMode.PreferPrimary => "prefer-primary",
        LoadBalanceMode.PreferReadReplica => "prefer-rr",
        _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, "Unknown load balance mode."),
    };

    internal static bool ParseBool(string value, string keyword) => Keywords.Normalize(value) switch
    {
        "true" or "1" or "yes" or "on" => true,
        "false" or "0" or "no" or "off" => false,
        _ => throw new ArgumentException($"Invalid value '{value}' for connection keyword '{keyword}'. Expected true or false.", nameof(value)),
    };

    internal static int ParseSeconds(string value, string keyword, int max)
    {
        if (!int.TryParse(value.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var seconds) || seconds < 0 || seconds > max)
        {
            throw new ArgumentException(
                $"Invalid value '{value}' for connection keyword '{keyword}'. Expected a whole number of seconds from 0 to {max}.", nameof(value));
        }

        return seconds;
    }

    internal static int ParseCount(string value, string keyword, int min, int max)
    {
        if (!int.TryParse(value.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) || n < min || n > max)
        {
            throw new ArgumentException(
                $"Invalid value '{value}' for connection keyword '{keyword}'. Expected a whole number from {min} to {max}.", nameof(value));
        }

        return n;
    }

    internal static int ParseMilliseconds(string value, string keyword, int max)
    {
        if (!int.TryParse(value.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var ms) || ms < 0 || ms > max)
        {
            throw new ArgumentException(
                $"Invalid value '{value}' for connection keyword '{keyword}'. Expected a whole number of milliseconds from 0 (off) to {max}.", nameof(value));
        }

        return ms;
    }
}
