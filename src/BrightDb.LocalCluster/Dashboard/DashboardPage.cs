using System.Globalization;
using System.Net;
using System.Text;
using BrightDb.LocalCluster.Internal;

namespace BrightDb.LocalCluster.Dashboard;

/// <summary>The dashboard's HTML: one page (<c>dashboard.html</c>, plain HTML, CSS and JavaScript, no build step) that
/// polls <c>api/cluster</c> relative to its own address, so the same page works from <c>bm-dev-ctl dashboard</c> and from
/// every node's rpcz server at <c>/</c>. Also the HTML rendering of a node's rpcz page.</summary>
public static class DashboardPage
{
    static readonly Lazy<string> Page = new(() =>
    {
        using var stream = typeof(DashboardPage).Assembly.GetManifestResourceStream("BrightDb.LocalCluster.Dashboard.dashboard.html")
                           ?? throw new InvalidOperationException("The dashboard page is missing from the assembly.");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    });

    /// <summary>The page.</summary>
    public static string Html => Page.Value;

    /// <summary>Whether an HTTP <c>Accept</c> header asks for HTML before JSON (what a browser sends).</summary>
    /// <param name="accept">The header's value, or <see langword="null"/>.</param>
    /// <returns><see langword="true"/> when <c>text/html</c> is accepted and JSON is not preferred to it.</returns>
    public static bool PrefersHtml(string? accept)
    {
        if (string.IsNullOrEmpty(accept))
        {
            return false;
        }

        var html = accept.IndexOf("text/html", StringComparison.OrdinalIgnoreCase);
        var json = accept.IndexOf("application/json", StringComparison.OrdinalIgnoreCase);
        return html >= 0 && (json < 0 || html < json);
    }

    /// <summary>A node's rpcz page as HTML: the same connections as its JSON, as a table.</summary>
    internal static string RenderRpcz(LocalNode node, IReadOnlyList<RpczConnection> connections)
    {
        static string E(string? text) => WebUtility.HtmlEncode(text ?? "");
        var html = new StringBuilder();
        html.Append(CultureInfo.InvariantCulture, $"""
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>rpcz · node {node.Index} ({E(node.Address)})</title>
            <style>body{"{"}font-family:system-ui,sans-serif;margin:1.5rem{"}"}table{"{"}border-collapse:collapse{"}"}td,th{"{"}border:1px solid #ccc;padding:.25rem .5rem;text-align:left{"}"}th{"{"}background:#f3f3f3{"}"}</style>
            </head><body>
            <h1>rpcz · node {node.Index} <small>{E(node.Address)} · {E(node.Placement.ToString())}</small></h1>
            <p><span id="count">{connections.Count}</span> client connections. The same as JSON: <a href="/rpcz?format=json">/rpcz?format=json</a> · the whole cluster: <a href="/">dashboard</a></p>
            <table><thead><tr><th>backend_type</th><th>db_name</th><th>user</th><th>host</th><th>port</th><th>application_name</th><th>backend_status</th><th>query</th></tr></thead><tbody>

            """);
        foreach (var c in connections)
        {
            html.Append(CultureInfo.InvariantCulture,
                $"<tr><td>{E(c.BackendType)}</td><td>{E(c.DbName)}</td><td>{E(c.User)}</td><td>{E(c.Host)}</td><td>{c.Port}</td><td>{E(c.ApplicationName)}</td><td>{E(c.BackendStatus)}</td><td>{E(c.Query)}</td></tr>\n");
        }

        html.Append("</tbody></table></body></html>\n");
        return html.ToString();
    }
}
