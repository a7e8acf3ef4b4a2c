namespace BrightDb.Npgsql.ConnectionStrings;

/// <summary>
/// One entry of <c>Topology Keys</c>: <c>cloud.region.zone[:level]</c>, where zone may be <c>*</c>.
/// Matching is case-insensitive, as placements are names chosen by operators, not identifiers.
/// </summary>
readonly record struct TopologyKey(string Cloud, string Region, string? Zone, int Level)
{
    internal const int MaxLevel = 10;

    /// <summary>Whether a server placed at <paramref name="cloud"/>.<paramref name="region"/>.<paramref name="zone"/> matches.</summary>
    internal bool Matches(string? cloud, string? region, string? zone) =>
        string.Equals(Cloud, cloud, StringComparison.OrdinalIgnoreCase)
        && string.Equals(Region, region, StringComparison.OrdinalIgnoreCase)
        && (Zone is null || string.Equals(Zone, zone, StringComparison.OrdinalIgnoreCase));

    public override string ToString() => $"{Cloud}.{Region}.{Zone ?? "*"}:{Level}";

    /// <summary>Parses a whole <c>Topology Keys</c> value; <see langword="null"/> when the value is empty.</summary>
    internal static IReadOnlyList<TopologyKey> ParseList(string value, string keyword)
    {
        var keys = new List<TopologyKey>();
        foreach (var raw in value.Split(','))
        {
            var entry = raw.Trim();
            if (entry.Length == 0)
                throw Invalid(keyword, value, "an empty entry");
            keys.Add(Parse(entry, keyword, value));
        }

        return keys;
    }

    static TopologyKey Parse(string entry, string keyword, string whole)
    {
        var level = 1;
        var placement = entry;
        var colon = entry.LastIndexOf(':');
        if (colon >= 0)
        {
            var suffix = entry[(colon + 1)..];
            if (!int.TryParse(suffix, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out level)
                || level < 1 || level > MaxLevel)
            {
                throw Invalid(keyword, whole, $"the preference level '{suffix}' in '{entry}' (levels are 1 to {MaxLevel})");
            }

            placement = entry[..colon];
        }

        var parts = placement.Split('.');
        if (parts.Length != 3 || parts.Any(p => p.Trim().Length == 0) || placement.Contains(':'))
            throw Invalid(keyword, whole, $"'{entry}', which is not of the form cloud.region.zone");
        var (cloud, region, zone) = (parts[0].Trim(), parts[1].Trim(), parts[2].Trim());
        if (cloud == "*" || region == "*")
            throw Invalid(keyword, whole, $"'{entry}': only the zone may be the wildcard '*'");
        return new TopologyKey(cloud, region, zone == "*" ? null : zone, level);
    }

    static ArgumentException Invalid(string keyword, string value, string what) =>
        new($"Invalid value '{value}' for connection keyword '{keyword}': {what}. " +
            "Expected a comma-separated list of cloud.region.zone[:n] with n from 1 to 10 and zone possibly '*', " +
            "for example 'aws.us-west.us-west-2a:1,aws.us-west.*:2'.");
}
