using System.Globalization;

namespace BrightDb.Benchmarks;

static class Stats
{
    internal static double Median(IReadOnlyList<double> values)
    {
        var sorted = values.Order().ToArray();
        var mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    /// <summary>The value at or below which <paramref name="percent"/>% of <paramref name="sorted"/> lie (nearest rank).</summary>
    internal static double Percentile(IReadOnlyList<double> sorted, double percent) =>
        sorted.Count == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(percent / 100 * sorted.Count) - 1, 0, sorted.Count - 1)];

    internal static string F(double value, int decimals = 1) => value.ToString("F" + decimals, CultureInfo.InvariantCulture);

    internal static string Load() =>
        File.Exists("/proc/loadavg") ? string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";
}
