using System.Collections.Frozen;
using System.ComponentModel;
using System.Reflection;
using Npgsql;

namespace BrightDb.Npgsql.ConnectionStrings;

/// <summary>
/// Npgsql's own keywords under their canonical (display) names, so that they too can be written in any case and
/// with '_' or '-' for spaces (<c>max_pool_size</c>, <c>application-name</c>). <see cref="NpgsqlConnectionStringBuilder"/>
/// stays the authority: its properties are read once, and any synonym it accepts is accepted as written.
/// </summary>
static class NpgsqlKeywordNames
{
    static readonly Lazy<FrozenDictionary<string, string>> ByNormalized = new(Build);

    /// <summary>Every canonical Npgsql keyword.</summary>
    internal static IEnumerable<string> All => ByNormalized.Value.Values.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal);

    internal static bool TryGetCanonical(string keyword, string normalized, out string canonical)
    {
        if (ByNormalized.Value.TryGetValue(normalized, out canonical!))
            return true;
        if (new NpgsqlConnectionStringBuilder().ContainsKey(keyword))
        {
            canonical = keyword;
            return true;
        }

        return false;
    }

    static FrozenDictionary<string, string> Build()
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var property in typeof(NpgsqlConnectionStringBuilder).GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.GetCustomAttribute<DisplayNameAttribute>() is not { } display
                || property.GetCustomAttribute<ObsoleteAttribute>() is not null)
            {
                continue;
            }

            map.TryAdd(Keywords.Normalize(display.DisplayName), display.DisplayName);
            map.TryAdd(Keywords.Normalize(property.Name), display.DisplayName);
        }

        // Spellings users bring from other drivers that differ from Npgsql's property and display names.
        map.TryAdd("maxpoolsize", "Maximum Pool Size");
        map.TryAdd("minpoolsize", "Minimum Pool Size");
        map.TryAdd("server", "Host");
        map.TryAdd("userid", "Username");
        map.TryAdd("uid", "Username");
        map.TryAdd("pwd", "Password");
        map.TryAdd("psw", "Password");
        return map.ToFrozenDictionary(StringComparer.Ordinal);
    }
}
