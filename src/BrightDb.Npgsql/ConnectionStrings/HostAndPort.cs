using System.Globalization;

namespace BrightDb.Npgsql.ConnectionStrings;

/// <summary>A host as listed by the user (<c>Host=h1,h2:2522</c>), with its port resolved.</summary>
readonly record struct HostAndPort(string Host, int Port)
{
    public override string ToString() => Host.Contains(':') ? $"[{Host}]:{Port}" : $"{Host}:{Port}";

    /// <summary>Parses <c>h1,h2:p,[::1]:p</c>; hosts without a port take <paramref name="ports"/> (one port, or one per host as libpq allows).</summary>
    internal static IReadOnlyList<HostAndPort> ParseList(string hosts, string? ports)
    {
        var entries = hosts.Split(',', StringSplitOptions.TrimEntries);
        var portList = (ports ?? BrightDbConnectionStringBuilder.DefaultPort.ToString(CultureInfo.InvariantCulture))
            .Split(',', StringSplitOptions.TrimEntries);
        if (portList.Length != 1 && portList.Length != entries.Length)
        {
            throw new ArgumentException(
                $"Invalid value '{ports}' for connection keyword 'Port': give one port, or one per host ({entries.Length}).", nameof(ports));
        }

        var result = new List<HostAndPort>(entries.Length);
        for (var i = 0; i < entries.Length; i++)
        {
            var defaultPort = ParsePort(portList.Length == 1 ? portList[0] : portList[i], "Port", ports ?? "");
            result.Add(ParseOne(entries[i], defaultPort, hosts));
        }

        return result;
    }

    static HostAndPort ParseOne(string entry, int defaultPort, string whole)
    {
        if (entry.Length == 0)
            throw new ArgumentException($"Invalid value '{whole}' for connection keyword 'Host': it has an empty entry.", "hosts");

        if (entry[0] == '[')
        {
            var close = entry.IndexOf(']');
            if (close < 0)
                throw new ArgumentException($"Invalid value '{whole}' for connection keyword 'Host': '{entry}' opens '[' without closing it.", "hosts");
            var address = entry[1..close];
            var after = entry[(close + 1)..];
            if (after.Length == 0)
                return new(address, defaultPort);
            if (after[0] != ':')
                throw new ArgumentException($"Invalid value '{whole}' for connection keyword 'Host': unexpected text after ']' in '{entry}'.", "hosts");
            return new(address, ParsePort(after[1..], "Host", whole));
        }

        var colon = entry.LastIndexOf(':');
        // More than one ':' without brackets is a bare IPv6 address, which has no port.
        if (colon < 0 || entry.IndexOf(':') != colon)
            return new(entry, defaultPort);
        return new(entry[..colon], ParsePort(entry[(colon + 1)..], "Host", whole));
    }

    static int ParsePort(string text, string keyword, string whole)
    {
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
            throw new ArgumentException($"Invalid value '{whole}' for connection keyword '{keyword}': '{text}' is not a port from 1 to 65535.", keyword);
        return port;
    }
}
