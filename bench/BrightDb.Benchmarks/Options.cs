using System.Globalization;

namespace BrightDb.Benchmarks;

/// <summary><c>--name value</c> pairs of the harness sub-commands.</summary>
sealed class Options(string[] args)
{
    internal string? Get(string name)
    {
        var i = Array.IndexOf(args, "--" + name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    internal int GetInt(string name, int defaultValue) =>
        Get(name) is { } v ? int.Parse(v, CultureInfo.InvariantCulture) : defaultValue;
}
