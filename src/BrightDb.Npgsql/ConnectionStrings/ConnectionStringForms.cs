using System.Data.Common;
using System.Text;

namespace BrightDb.Npgsql.ConnectionStrings;

/// <summary>
/// Splits a connection string written in any of the forms users bring (ADO.NET <c>Key=Value;…</c>,
/// libpq/psycopg2 <c>key=value key='v a l'</c>, or a <c>postgresql://</c> URI) into keyword/value pairs.
/// Which keywords are valid is decided later, by <see cref="BrightDbConnectionStringBuilder"/>.
/// </summary>
static class ConnectionStringForms
{
    internal static List<KeyValuePair<string, string>> Split(string connectionString)
    {
        ArgumentNullException.ThrowIfNull(connectionString);
        var text = connectionString.Trim();
        if (text.Length == 0)
            return [];
        if (text.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase)
            || text.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase))
        {
            return SplitUri(text);
        }

        // A semicolon never appears in a libpq string outside a quoted value, and ADO.NET keywords may contain spaces
        // ("Load Balance Hosts=true"), so a string is libpq when it splits into key=value tokens with no ';' outside quotes.
        return SplitLibpq(text, out var libpq) switch
        {
            LibpqForm.Libpq => libpq,
            LibpqForm.Ado => SplitAdo(text),
            // Falling back to ADO.NET here would turn "host=h password=a b" into one keyword whose value holds the
            // password, shown wherever that keyword is; so say what is wrong without echoing any value.
            _ => throw new ArgumentException(
                $"The connection string is not valid: after the value of '{libpq[^1].Key}' comes text that is not keyword=value. " +
                "In the libpq form (keyword=value separated by spaces) a value holding spaces must be quoted, as in keyword='a b'.",
                "connectionString"),
        };
    }

    enum LibpqForm { Libpq, Ado, Malformed }

    static List<KeyValuePair<string, string>> SplitAdo(string text)
    {
        var parser = new DbConnectionStringBuilder();
        try
        {
            parser.ConnectionString = text;
        }
        catch (ArgumentException e)
        {
            // The framework's message quotes the faulty position, not the value, so it cannot leak a password.
            throw new ArgumentException($"The connection string is not valid: {e.Message}", "connectionString", e);
        }

        var pairs = new List<KeyValuePair<string, string>>(parser.Count);
        foreach (string key in parser.Keys)
            pairs.Add(new(key, Convert.ToString(parser[key], System.Globalization.CultureInfo.InvariantCulture) ?? ""));
        return pairs;
    }

    /// <summary>libpq's rules: whitespace-separated <c>key = value</c>; a value may be single-quoted with <c>\'</c> and <c>\\</c> escapes.</summary>
    static LibpqForm SplitLibpq(string text, out List<KeyValuePair<string, string>> pairs)
    {
        pairs = [];
        var i = 0;
        while (true)
        {
            while (i < text.Length && char.IsWhiteSpace(text[i]))
                i++;
            if (i == text.Length)
                return pairs.Count > 0 ? LibpqForm.Libpq : LibpqForm.Ado;

            var keyStart = i;
            while (i < text.Length && text[i] != '=' && !char.IsWhiteSpace(text[i]))
                i++;
            var key = text[keyStart..i];
            while (i < text.Length && char.IsWhiteSpace(text[i]))
                i++;
            if (key.Contains(';'))
                return LibpqForm.Ado;
            if (key.Length == 0 || i == text.Length || text[i] != '=')
            {
                // "Load Balance Hosts=true" is one ADO.NET pair; "host=h password=a b" is a libpq string with an unquoted space.
                return pairs.Count == 0 || text.Contains(';') ? LibpqForm.Ado : LibpqForm.Malformed;
            }
            i++;
            while (i < text.Length && char.IsWhiteSpace(text[i]))
                i++;

            var value = new StringBuilder();
            if (i < text.Length && text[i] == '\'')
            {
                i++;
                var closed = false;
                while (i < text.Length)
                {
                    var c = text[i++];
                    if (c == '\\' && i < text.Length)
                    {
                        value.Append(text[i++]);
                    }
                    else if (c == '\'')
                    {
                        closed = true;
                        break;
                    }
                    else
                    {
                        value.Append(c);
                    }
                }

                if (!closed)
                {
                    // An ADO.NET string whose first value is quoted and holds a space, a quote or a '\' can read as libpq up to here
                    // (Password="a b='c";Host=h: "b" looks like a key, 'c";Host=h like its quoted value). With a ';' in the text it
                    // is ADO.NET, and the would-be key, part of a password, is not to be shown.
                    if (text.Contains(';'))
                        return LibpqForm.Ado;
                    throw new ArgumentException($"The connection string is not valid: the quoted value of '{key}' is not closed.", "connectionString");
                }
            }
            else
            {
                while (i < text.Length && !char.IsWhiteSpace(text[i]))
                {
                    var c = text[i++];
                    if (c == ';')
                        return LibpqForm.Ado;
                    if (c == '\\' && i < text.Length)
                        c = text[i++];
                    value.Append(c);
                }
            }

            pairs.Add(new(key, value.ToString()));
        }
    }

    /// <summary><c>postgresql://[user[:password]@][host[:port][,…]][/dbname][?param=value&amp;…]</c>, percent-encoded.</summary>
    static List<KeyValuePair<string, string>> SplitUri(string text)
    {
        var pairs = new List<KeyValuePair<string, string>>();
        var rest = text[(text.IndexOf("://", StringComparison.Ordinal) + 3)..];

        var query = "";
        var q = rest.IndexOf('?');
        if (q >= 0)
        {
            query = rest[(q + 1)..];
            rest = rest[..q];
        }

        var slash = rest.IndexOf('/');
        var authority = slash >= 0 ? rest[..slash] : rest;
        var database = slash >= 0 ? rest[(slash + 1)..] : "";

        var at = authority.LastIndexOf('@');
        if (at >= 0)
        {
            var userInfo = authority[..at];
            authority = authority[(at + 1)..];
            var colon = userInfo.IndexOf(':');
            var user = colon >= 0 ? userInfo[..colon] : userInfo;
            if (user.Length > 0)
                pairs.Add(new("user", Decode(user)));
            if (colon >= 0)
                pairs.Add(new("password", Decode(userInfo[(colon + 1)..])));
        }

        if (at < 0 && text.IndexOf('@', text.IndexOf("://", StringComparison.Ordinal) + 3 + authority.Length) >= 0 && LooksLikeUserInfo(authority))
        {
            // "postgresql://u:pa/ss@h": the password holds a '/' or '?' that ends the authority early, so what looks like
            // the host list is the user and part of the password. Say so without echoing any of it.
            throw new ArgumentException(
                "The connection URI is not valid: an '@' follows its host list. If the user name or password holds '/', '?' or '#', " +
                "percent-encode them (%2F, %3F, %23).", "connectionString");
        }

        if (authority.Length > 0)
        {
            var hosts = new List<string>();
            foreach (var hostPort in authority.Split(','))
            {
                if (hostPort.Length == 0)
                    throw new ArgumentException("The connection URI is not valid: it has an empty host in its host list.", "connectionString");
                hosts.Add(Decode(hostPort));
            }

            pairs.Add(new("host", string.Join(',', hosts)));
        }

        if (database.Length > 0)
            pairs.Add(new("dbname", Decode(database)));

        foreach (var parameter in query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = parameter.IndexOf('=');
            if (eq <= 0)
                throw new ArgumentException($"The connection URI is not valid: its parameter '{Decode(parameter)}' has no value.", "connectionString");
            pairs.Add(new(Decode(parameter[..eq]), Decode(parameter[(eq + 1)..])));
        }

        return pairs;
    }

    /// <summary>Whether a would-be host list has an entry <c>x:y</c> whose <c>y</c> is no port number (brackets aside).</summary>
    static bool LooksLikeUserInfo(string authority) =>
        authority.Split(',').Any(entry =>
            !entry.StartsWith('[') && entry.LastIndexOf(':') is var colon and >= 0
            && !entry[(colon + 1)..].All(char.IsAsciiDigit));

    static string Decode(string s) => Uri.UnescapeDataString(s);
}
