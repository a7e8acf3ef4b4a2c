using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using BrightDb.Npgsql.ConnectionStrings;
using Npgsql;

namespace BrightDb.Npgsql.Ecosystem.Tests;

/// <summary>docs/connection-properties.md lists exactly the keywords the code accepts, with working examples and true defaults.</summary>
public sealed partial class ConnectionPropertiesDocTests
{
    static readonly string Doc = File.ReadAllText(Path.Combine(RepositoryRoot(), "docs", "connection-properties.md"));

    [Fact]
    public void Every_driver_keyword_has_a_section_and_no_section_is_extra()
    {
        Assert.Equal(Keywords.DriverCanonical.Order(StringComparer.Ordinal), DriverSections().Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Every_alias_of_a_driver_keyword_is_documented_under_it()
    {
        var sections = DriverSections();
        foreach (var (alias, canonical) in Keywords.Driver)
        {
            var written = AlsoWritten(sections[canonical]).Append(canonical).Select(Keywords.Normalize);
            Assert.True(written.Contains(alias), $"The alias '{alias}' of '{canonical}' is not listed under its 'Also written' line.");
        }

        // And every documented spelling is accepted, for its own keyword.
        foreach (var (canonical, text) in sections)
        {
            foreach (var spelling in AlsoWritten(text))
                Assert.Equal(canonical, Keywords.Driver[Keywords.Normalize(spelling)]);
        }
    }

    [Fact]
    public void The_documented_defaults_are_the_builders()
    {
        var empty = new BrightDbConnectionStringBuilder();
        foreach (var (canonical, text) in DriverSections())
        {
            var documented = DefaultLine().Match(text);
            Assert.True(documented.Success, $"No 'Default:' line under '{canonical}'.");
            var property = typeof(BrightDbConnectionStringBuilder).GetProperty(canonical.Replace(" ", "", StringComparison.Ordinal))
                           ?? throw new InvalidOperationException($"No property for '{canonical}'.");
            var actual = property.GetValue(empty) switch
            {
                null => "(none)",
                LoadBalanceMode mode => $"`{DriverValues.Format(mode)}`",
                bool b => b ? "`true`" : "`false`",
                IFormattable f => $"`{f.ToString(null, CultureInfo.InvariantCulture)}`",
                var other => $"`{other}`",
            };
            Assert.Equal(actual, documented.Groups[1].Value.Trim());
        }
    }

    [Fact]
    public void The_examples_of_each_keyword_parse_in_all_four_forms_to_the_same_value()
    {
        foreach (var (canonical, text) in DriverSections())
        {
            var examples = ExampleRow().Matches(text).ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value);
            Assert.Equal(["ADO.NET", "Dictionary", "URI", "libpq"], examples.Keys.Order(StringComparer.Ordinal));
            var builders = new[]
            {
                new BrightDbConnectionStringBuilder(examples["ADO.NET"]),
                new BrightDbConnectionStringBuilder(examples["libpq"]),
                new BrightDbConnectionStringBuilder(examples["URI"]),
                new BrightDbConnectionStringBuilder(ParseDictionary(examples["Dictionary"])),
            };
            Assert.All(builders, b => Assert.True(b.ContainsKey(canonical), $"An example of '{canonical}' does not set it: {b}"));
            // Each example is a valid configuration as a whole, not only a valid value.
            Assert.All(builders, b => BrightDbSettings.From(b));
            if (canonical is not Keywords.TopologyKeys)
                Assert.Single(builders.Select(b => Keywords.Normalize((string)b[canonical])).Distinct());
        }
    }

    [Fact]
    public void The_libpq_table_is_exactly_the_libpq_names_the_code_maps()
    {
        var section = Section("## libpq and psycopg2 names");
        var rows = TwoCodeColumns().Matches(section).ToDictionary(m => Keywords.Normalize(m.Groups[1].Value), m => m.Groups[2].Value);
        Assert.Equal(Keywords.Libpq.Keys.Order(StringComparer.Ordinal), rows.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, npgsql) in Keywords.Libpq)
            Assert.Equal(npgsql, rows[name], StringComparer.OrdinalIgnoreCase);
    }

    [Fact]
    public void The_Npgsql_table_lists_every_Npgsql_keyword_accepted()
    {
        var section = Section("## Npgsql keywords");
        var listed = NpgsqlRow().Matches(section).Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(listed.Count, listed.Distinct(StringComparer.OrdinalIgnoreCase).Count());
        var accepted = NpgsqlKeywordNames.All.Where(k => !Keywords.DriverCanonical.Contains(k, StringComparer.OrdinalIgnoreCase));
        Assert.Equal(accepted.Select(Keywords.Normalize).Order(StringComparer.Ordinal), listed.Select(Keywords.Normalize).Order(StringComparer.Ordinal));
        // Each listed keyword really is accepted, under the name written.
        Assert.All(listed, k => Assert.Null(new BrightDbConnectionStringBuilder()[k]));
    }

    [Fact]
    public void The_Npgsql_tables_defaults_are_what_the_driver_uses()
    {
        // A balanced, pooled data source's per-server connection string (the one Npgsql sees), and plain Npgsql's defaults.
        var driver = new NpgsqlConnectionStringBuilder(
            BrightDbSettings.From(new BrightDbConnectionStringBuilder("Host=h;Load Balance Hosts=true")).ForServer("h", 2521));
        var npgsql = new NpgsqlConnectionStringBuilder();
        var checkedRows = 0;
        foreach (Match row in NpgsqlDefaultRow().Matches(Section("## Npgsql keywords")))
        {
            var (keyword, value, npgsqlValue) = (row.Groups[1].Value, row.Groups[2].Value, row.Groups[3]);
            Assert.Equal(value, Text(driver[keyword]), StringComparer.OrdinalIgnoreCase);
            // A value of the driver's own says what Npgsql's is; any other is Npgsql's.
            Assert.Equal(npgsqlValue.Success ? npgsqlValue.Value : value, Text(npgsql[keyword]), StringComparer.OrdinalIgnoreCase);
            checkedRows++;
        }

        Assert.True(checkedRows > 30, $"only {checkedRows} rows with a default value were found");

        static string Text(object? value) => value switch
        {
            null => "",
            IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
            var other => other.ToString() ?? "",
        };
    }

    static Dictionary<string, string> DriverSections()
    {
        var section = Section("## Keywords of this driver");
        var parts = Regex.Split(section, @"^### ", RegexOptions.Multiline).Skip(1);
        return parts.ToDictionary(p => p[..p.IndexOf('\n', StringComparison.Ordinal)].Trim(), p => p);
    }

    static IEnumerable<string> AlsoWritten(string section)
    {
        var line = section.Split('\n').Single(l => l.StartsWith("Also written:", StringComparison.Ordinal));
        return Regex.Matches(line, "`([^`]+)`").Select(m => m.Groups[1].Value);
    }

    static string Section(string heading)
    {
        var start = Doc.IndexOf(heading + "\n", StringComparison.Ordinal);
        Assert.True(start >= 0, $"No section '{heading}'.");
        var next = Doc.IndexOf("\n## ", start + heading.Length, StringComparison.Ordinal);
        return next < 0 ? Doc[start..] : Doc[start..next];
    }

    /// <summary><c>["key"] = "value", ["n"] = 60, ["b"] = true</c>: the dictionary form of the examples.</summary>
    static Dictionary<string, object?> ParseDictionary(string text)
    {
        var pairs = new Dictionary<string, object?>();
        foreach (Match m in DictionaryEntry().Matches(text))
        {
            var raw = m.Groups[2].Value;
            pairs[m.Groups[1].Value] = raw.StartsWith('"') ? raw.Trim('"')
                : raw is "true" or "false" ? bool.Parse(raw)
                : int.Parse(raw, CultureInfo.InvariantCulture);
        }

        Assert.NotEmpty(pairs);
        return pairs;
    }

    [GeneratedRegex(@"^Default: (.+)$", RegexOptions.Multiline)]
    private static partial Regex DefaultLine();

    [GeneratedRegex(@"^\| (ADO\.NET|libpq|URI|Dictionary) \| `(.+)` \|$", RegexOptions.Multiline)]
    private static partial Regex ExampleRow();

    [GeneratedRegex(@"^\| `([^`]+)` \| `([^`]+)` \|$", RegexOptions.Multiline)]
    private static partial Regex TwoCodeColumns();

    [GeneratedRegex(@"^\| `([^`]+)` \| [^|]+ \|$", RegexOptions.Multiline)]
    private static partial Regex NpgsqlRow();

    /// <summary>A row of the Npgsql table with a value as its default: <c>| `Keyword` | `value` … (this driver; Npgsql: `value`) |</c>.</summary>
    [GeneratedRegex(@"^\| `([^`]+)` \| `([^`]+)`(?:[^|]*?\(this driver; Npgsql: `([^`]+)`\))?[^|]*\|$", RegexOptions.Multiline)]
    private static partial Regex NpgsqlDefaultRow();

    [GeneratedRegex(@"\[""([^""]+)""\] = (""[^""]*""|true|false|\d+)")]
    private static partial Regex DictionaryEntry();

    static string RepositoryRoot([CallerFilePath] string source = "")
    {
        var directory = new DirectoryInfo(Path.GetDirectoryName(source)!);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "BrightDb.slnx")))
            directory = directory.Parent;
        return directory?.FullName ?? throw new InvalidOperationException($"No BrightDb.slnx above {source}.");
    }
}
