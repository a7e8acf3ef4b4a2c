namespace BrightDb.LocalCluster.BrowserTests;

/// <summary>
/// A test that needs a Chromium to drive: Debian's <c>chromium</c> at <c>/usr/bin/chromium</c> (which the test script
/// installs when missing), or the browser named by <c>BRIGHTDB_CHROMIUM</c>. Skipped, saying so, only where there is none.
/// </summary>
public sealed class BrowserFactAttribute : FactAttribute
{
    public BrowserFactAttribute()
    {
        if (Browser.ExecutablePath is null)
        {
            Skip = $"No Chromium at {Browser.Candidate}: install Debian's chromium package (apt-get install chromium), " +
                   "or set BRIGHTDB_CHROMIUM to a Chromium or Chrome executable.";
        }
    }
}
