using System.Diagnostics.CodeAnalysis;

namespace BrightDb.LocalCluster;

/// <summary>A node's geo-location, written <c>cloud.region.zone</c> as in <c>--placement_info</c> and topology keys.</summary>
/// <param name="Cloud">The cloud, for example <c>aws</c>.</param>
/// <param name="Region">The region, for example <c>us-west</c>.</param>
/// <param name="Zone">The zone, for example <c>us-west-2a</c>.</param>
public readonly record struct Placement(string Cloud, string Region, string Zone)
{
    /// <summary>Parses <c>cloud.region.zone</c>: exactly three non-empty parts separated by dots, surrounding blanks ignored.</summary>
    /// <param name="cloudRegionZone">The text to parse.</param>
    /// <returns>The placement.</returns>
    /// <exception cref="FormatException">The text is not of the form <c>cloud.region.zone</c>.</exception>
    public static Placement Parse(string cloudRegionZone)
    {
        ArgumentNullException.ThrowIfNull(cloudRegionZone);
        if (!TryParse(cloudRegionZone, out var placement))
        {
            throw new FormatException(
                $"Placement '{cloudRegionZone}' is not of the form cloud.region.zone (three non-empty parts separated by dots, e.g. aws.us-west.us-west-2a).");
        }

        return placement;
    }

    /// <summary>Tries to parse <c>cloud.region.zone</c>.</summary>
    /// <param name="cloudRegionZone">The text to parse.</param>
    /// <param name="placement">The placement when the text is valid.</param>
    /// <returns><see langword="true"/> when the text is valid.</returns>
    public static bool TryParse([NotNullWhen(true)] string? cloudRegionZone, out Placement placement)
    {
        placement = default;
        if (cloudRegionZone is null)
        {
            return false;
        }

        var parts = cloudRegionZone.Trim().Split('.');
        // Blanks and quotes inside a part would end up verbatim in yb_servers(); refuse them rather than guess.
        if (parts.Length != 3 || parts.Any(p => p.Length == 0 || p.Any(c => char.IsWhiteSpace(c) || c is '"' or '\'' or ',')))
        {
            return false;
        }

        placement = new Placement(parts[0], parts[1], parts[2]);
        return true;
    }

    /// <summary>Returns <c>cloud.region.zone</c>.</summary>
    /// <returns>The placement as text.</returns>
    public override string ToString() => $"{Cloud}.{Region}.{Zone}";
}
