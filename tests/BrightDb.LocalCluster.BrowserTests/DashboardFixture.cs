using System.Text.RegularExpressions;
using BmDevCtl;
using Microsoft.Playwright;

namespace BrightDb.LocalCluster.BrowserTests;

/// <summary>
/// A cluster laid out as the tutorial's (us-west-2a twice, us-west-2b) with rpcz served, <c>bm-dev-ctl dashboard --port 0</c>
/// running on it (in this process, as the CLI runs it), and a headless Chromium. Nothing starts where there is no Chromium:
/// the tests are skipped there.
/// </summary>
public sealed partial class DashboardFixture : IAsyncLifetime
{
    readonly StringWriter _cliOutput = new();
    readonly CancellationTokenSource _stopDashboard = new();
    TextWriter? _cliWriter;
    Task<int>? _dashboard;
    IPlaywright? _playwright;

    public LocalCluster Cluster { get; private set; } = null!;

    public IBrowser Browser { get; private set; } = null!;

    /// <summary>The dashboard's address as the command printed it, e.g. <c>http://127.0.0.1:41234/</c>.</summary>
    public string DashboardUrl { get; private set; } = "";

    public async Task InitializeAsync()
    {
        if (BrowserTests.Browser.ExecutablePath is null)
        {
            return;
        }

        Cluster = await LocalCluster.StartAsync(new LocalClusterOptions
        {
            Nodes =
            [
                new NodeSpec(Placement.Parse("aws.us-west.us-west-2a")),
                new NodeSpec(Placement.Parse("aws.us-west.us-west-2a")),
                new NodeSpec(Placement.Parse("aws.us-west.us-west-2b")),
            ],
            StartRpcz = true,
        });
        _cliWriter = TextWriter.Synchronized(_cliOutput);
        _dashboard = Cli.RunAsync(["dashboard", "--base_dir", Cluster.BaseDirectory, "--port", "0"], _cliWriter, _cliWriter, _stopDashboard.Token);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (DashboardUrl.Length == 0)
        {
            if (_dashboard.IsCompleted || DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"bm-dev-ctl dashboard printed no address: {CliOutput}");
            }

            if (PrintedAddress().Match(CliOutput) is { Success: true } match)
            {
                DashboardUrl = match.Value;
            }
            else
            {
                await Task.Delay(50);
            }
        }

        (_playwright, Browser) = await BrowserTests.Browser.LaunchAsync();
    }

    /// <summary>What the dashboard command printed so far.</summary>
    public string CliOutput
    {
        get
        {
            if (_cliWriter is null)
            {
                return "";
            }

            lock (_cliWriter)
            {
                return _cliOutput.ToString();
            }
        }
    }

    public async Task<IPage> NewPageAsync(string url)
    {
        var page = await Browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1100, Height = 640 } });
        await page.GotoAsync(url);
        return page;
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.DisposeAsync();
        }

        _playwright?.Dispose();
        await _stopDashboard.CancelAsync();
        if (_dashboard is not null)
        {
            Assert.Equal(0, await _dashboard);
        }

        if (Cluster is not null)
        {
            await Cluster.DisposeAsync();
        }

        _stopDashboard.Dispose();
    }

    [GeneratedRegex(@"http://127\.0\.0\.1:\d+/")]
    private static partial Regex PrintedAddress();
}
