using System.Text.RegularExpressions;
using BrightDb.LocalCluster.Dashboard;

namespace BrightDb.LocalCluster.BrowserTests;

/// <summary>
/// What the page must be whether or not a browser is at hand: self-contained (the local cluster runs on machines without
/// outside network access, and the page is served from every node's rpcz server), and reading its data relative to its
/// own address so that both servers of it work. Runs where the browser tests are skipped, too.
/// </summary>
public sealed partial class DashboardPageTests
{
    [Fact]
    public void The_page_loads_nothing_from_elsewhere_and_reads_its_data_relative_to_its_own_address()
    {
        var html = DashboardPage.Html;
        Assert.StartsWith("<!DOCTYPE html>", html, StringComparison.Ordinal);
        // No script, style sheet, image or font from another address: the only absolute URL is SVG's namespace name.
        Assert.Equal(["http://www.w3.org/2000/svg"], AbsoluteUrls().Matches(html).Select(m => m.Value).Distinct());
        Assert.DoesNotMatch(ExternalReference(), html);
        // Polled relative to the page, so it works at / of a node's rpcz server and of bm-dev-ctl dashboard alike.
        Assert.Contains("fetch(\"api/cluster\"", html, StringComparison.Ordinal);
        // Text from the servers (application names, errors) goes into the page as text, never as markup.
        Assert.DoesNotContain("innerHTML", html, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"(?:https?:)?//[A-Za-z0-9.\-]+[^\s""'`)]*")]
    private static partial Regex AbsoluteUrls();

    [GeneratedRegex(@"<(?:script|link|img)\b[^>]*\b(?:src|href)\s*=", RegexOptions.IgnoreCase)]
    private static partial Regex ExternalReference();
}
