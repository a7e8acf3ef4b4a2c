using System.Text;
using BrightDb.Npgsql.ConnectionStrings;
using CsCheck;

namespace BrightDb.Npgsql.Tests;

/// <summary>A password never shows: not in an exception message, not in <c>ToString()</c>, not in a data source's connection string.</summary>
public class SecretTests
{
    const string Alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ;'\"=\\@/?:,%&#[]{}()é!$*+-_.~\t";

    static readonly Gen<string> Password =
        Gen.Char[Alphabet].Array[8, 20].Select(chars => new string(chars))
            .Where(p => p.Trim().Length >= 8 && p.Count(char.IsLetterOrDigit) >= 4);

    /// <summary>Ways of writing a connection string around a password, well-formed or not; the bool says which.</summary>
    static IEnumerable<(string Form, bool WellFormed, Func<string, object> Make)> Forms()
    {
        // well-formed: the password must come back exactly
        yield return ("ado quoted", true, p => $"Host=h1,h2;Username=u;Password=\"{p.Replace("\"", "\"\"", StringComparison.Ordinal)}\";Load Balance Hosts=true");
        yield return ("libpq quoted", true, p => $"host=h1,h2 user=u password='{p.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "\\'", StringComparison.Ordinal)}' load_balance=true");
        yield return ("uri encoded", true, p => $"postgresql://u:{Uri.EscapeDataString(p)}@h1,h2/db?load_balance=true");
        yield return ("dictionary", true, p => new Dictionary<string, object?> { ["host"] = "h1,h2", ["user"] = "u", ["password"] = p, ["load_balance"] = "True" });
        yield return ("ssl password", true, p => new Dictionary<string, object?> { ["host"] = "h1", ["sslpassword"] = p, ["load_balance"] = "True" });
        // written as is: the password itself may be what is malformed
        yield return ("ado raw", false, p => $"Host=h1;Username=u;Password={p};Load Balance Hosts=true");
        yield return ("ado raw last", false, p => $"Host=h1;Username=u;Password={p}");
        yield return ("libpq raw", false, p => $"host=h1 user=u password={p} load_balance=true");
        yield return ("libpq raw first", false, p => $"password={p} host=h1");
        yield return ("libpq raw last", false, p => $"host=h1 user=u password={p}");
        yield return ("uri raw", false, p => $"postgresql://u:{p}@h1:2521,h2/db?load_balance=true");
        // a bad value elsewhere, next to a valid password
        yield return ("ado bad value", false, p => $"Host=h1;Password=\"{p.Replace("\"", "\"\"", StringComparison.Ordinal)}\";Load Balance Hosts=maybe");
        yield return ("libpq bad port", false, p => $"host=h1:0 password='{p.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "\\'", StringComparison.Ordinal)}' load_balance=true");
        yield return ("dictionary bad keys", false, p => new Dictionary<string, object?> { ["host"] = "h1", ["password"] = p, ["topology_keys"] = "aws" });
        yield return ("dictionary contradiction", false, p => new Dictionary<string, object?> { ["host"] = "h1", ["password"] = p, ["topology_keys"] = "a.b.c", ["load_balance"] = false });
    }

    [Fact]
    public void Random_passwords_never_show()
    {
        Password.Sample(password =>
        {
            foreach (var (form, wellFormed, make) in Forms())
                Check(form, wellFormed, make(password), password);
        }, iter: 300, threads: 1);
    }

    [Theory]
    [InlineData("a b c d e f")]
    [InlineData("pass word=x")]
    [InlineData("x;Port=5 xx")]
    [InlineData("ab'cd ef gh")]
    [InlineData("'unclosed quote")]
    [InlineData("trailing\\")]
    [InlineData("u:p/ss@wd")]
    [InlineData("sec?ret=1&x")]
    [InlineData("load_balance=maybe")]
    [InlineData("Host=h9:0")]
    [InlineData("topology_keys=aws")]
    public void Awkward_passwords_never_show(string password)
    {
        foreach (var (form, wellFormed, make) in Forms())
            Check(form, wellFormed, make(password), password);
    }

    static void Check(string form, bool wellFormed, object input, string password)
    {
        BrightDbConnectionStringBuilder? builder = null;
        try
        {
            builder = input is string s ? new BrightDbConnectionStringBuilder(s) : new BrightDbConnectionStringBuilder((IReadOnlyDictionary<string, object?>)input);
            AssertHidden(form, builder.ToString(), password, "ToString()");
            if (wellFormed)
            {
                var stored = builder.Password ?? (string)builder["SSL Password"];
                Assert.True(stored == password, $"{form}: the password did not round-trip");
            }

            var settings = BrightDbSettings.From(builder);
            AssertHidden(form, settings.NpgsqlConnectionString(includePassword: false), password, "NpgsqlConnectionString(false)");
            using var dataSource = new BrightDbDataSourceBuilder(builder.ConnectionString).Build();
            AssertHidden(form, dataSource.ConnectionString, password, "data source ConnectionString");
        }
        catch (ArgumentException e)
        {
            Assert.False(wellFormed, $"{form}: a well-formed string was rejected: {e.Message}");
            foreach (var message in TestSupport.Messages(e))
                AssertHidden(form, message, password, "exception message");
        }

        if (builder is not null && wellFormed)
            AssertHidden(form, builder.ToString(), password, "ToString()");
    }

    static void AssertHidden(string form, string text, string password, string where) =>
        Assert.False(text.Contains(password, StringComparison.Ordinal) || text.Contains(password.Trim(), StringComparison.Ordinal),
            $"{form}: the password {Escape(password)} shows in {where}: {Escape(text)}");

    static string Escape(string s)
    {
        var sb = new StringBuilder();
        foreach (var c in s)
            sb.Append(c < ' ' ? $"\\x{(int)c:x2}" : c.ToString());
        return sb.ToString();
    }
}
