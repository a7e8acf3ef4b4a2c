using Microsoft.Playwright;

namespace BrightDb.LocalCluster.BrowserTests;

/// <summary>Headless Chromium through Playwright, pointed at the system's browser (Playwright's own download is not used).</summary>
static class Browser
{
    public static string Candidate => Environment.GetEnvironmentVariable("BRIGHTDB_CHROMIUM") is { Length: > 0 } path ? path : "/usr/bin/chromium";

    public static string? ExecutablePath => File.Exists(Candidate) ? Candidate : null;

    /// <summary>Launches the browser with the flags a closed, root-run machine needs: no sandbox (root), no GPU, and no
    /// background networking (its connections to the outside would be refused, many at a time).</summary>
    public static async Task<(IPlaywright Playwright, IBrowser Browser)> LaunchAsync()
    {
        var playwright = await Playwright.CreateAsync();
        try
        {
            var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
            {
                ExecutablePath = ExecutablePath ?? throw new InvalidOperationException($"No Chromium at {Candidate}."),
                Headless = true,
                Args =
                [
                    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                ],
            });
            return (playwright, browser);
        }
        catch
        {
            playwright.Dispose();
            throw;
        }
    }
}
