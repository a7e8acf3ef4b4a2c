using System.Collections.Concurrent;
using System.Globalization;
using System.Text.RegularExpressions;

namespace BrightDb.LocalCluster.Internal;

/// <summary>The PostgreSQL server binaries to use and the account that runs them.</summary>
sealed partial class PostgresInstallation
{
    const int MinimumMajorVersion = 12;
    static readonly ConcurrentDictionary<string, Task<PostgresInstallation>> Cache = new(StringComparer.Ordinal);

    PostgresInstallation(string binDirectory, int majorVersion, string versionText, ServerAccount account)
    {
        BinDirectory = binDirectory;
        MajorVersion = majorVersion;
        VersionText = versionText;
        Account = account;
    }

    public string BinDirectory { get; }

    public int MajorVersion { get; }

    public string VersionText { get; }

    public ServerAccount Account { get; }

    public string Tool(string name) => Path.Combine(BinDirectory, name);

    /// <summary>Runs a server tool as the server account (through runuser when we are root).</summary>
    public Task<CommandRunner.Result> RunToolAsync(string tool, IEnumerable<string> arguments, CancellationToken cancellationToken)
    {
        var path = Tool(tool);
        return Account.RunAsRoot
            ? CommandRunner.RunAsync("runuser", ["-u", Account.UserName, "--", path, .. arguments], cancellationToken)
            : CommandRunner.RunAsync(path, arguments, cancellationToken);
    }

    public static async Task<PostgresInstallation> FindAsync(string? binDirectory, CancellationToken cancellationToken)
    {
        var directory = binDirectory ?? Environment.GetEnvironmentVariable("BRIGHTDB_PG_BIN") ?? FindNewestBinDirectory();
        var task = Cache.GetOrAdd(directory, d => LoadAsync(d, CancellationToken.None));
        try
        {
            return await task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception) when (task.IsFaulted)
        {
            // Failures are not cached: installing PostgreSQL and retrying in the same process must work.
            Cache.TryRemove(new KeyValuePair<string, Task<PostgresInstallation>>(directory, task));
            throw;
        }
    }

    static string FindNewestBinDirectory()
    {
        var candidates = new List<(int Version, string Dir)>();
        foreach (var root in new[] { "/usr/lib/postgresql", "/usr/local/lib/postgresql" })
        {
            if (!Directory.Exists(root))
            {
                continue;
            }

            foreach (var versionDir in Directory.EnumerateDirectories(root))
            {
                var bin = Path.Combine(versionDir, "bin");
                if (int.TryParse(Path.GetFileName(versionDir), NumberStyles.None, CultureInfo.InvariantCulture, out var v) && HasServerTools(bin))
                {
                    candidates.Add((v, bin));
                }
            }
        }

        if (candidates.Count > 0)
        {
            return candidates.MaxBy(c => c.Version).Dir;
        }

        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            if (HasServerTools(dir))
            {
                return dir;
            }
        }

        throw new PostgresNotFoundException("PostgreSQL server binaries (initdb, pg_ctl, postgres; version 12 or later) were not found in /usr/lib/postgresql/*/bin or on PATH.");
    }

    static bool HasServerTools(string dir) =>
        File.Exists(Path.Combine(dir, "postgres")) && File.Exists(Path.Combine(dir, "initdb")) && File.Exists(Path.Combine(dir, "pg_ctl"));

    static async Task<PostgresInstallation> LoadAsync(string binDirectory, CancellationToken cancellationToken)
    {
        if (!HasServerTools(binDirectory))
        {
            throw new PostgresNotFoundException($"PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found in '{binDirectory}'.");
        }

        var account = ServerAccount.Resolve();
        var version = await CommandRunner.RunAsync(Path.Combine(binDirectory, "postgres"), ["--version"], cancellationToken).ConfigureAwait(false);
        var match = VersionPattern().Match(version.Output);
        if (!version.Succeeded || !match.Success)
        {
            throw new PostgresNotFoundException($"'{binDirectory}/postgres --version' did not report a version: {version.Output.Trim()}");
        }

        var major = int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
        if (major < MinimumMajorVersion)
        {
            throw new PostgresNotFoundException($"PostgreSQL {major} in '{binDirectory}' is too old; version {MinimumMajorVersion} or later is needed.");
        }

        return new PostgresInstallation(binDirectory, major, version.Output.Trim(), account);
    }

    [GeneratedRegex(@"\(PostgreSQL\)\s+(\d+)")]
    private static partial Regex VersionPattern();
}
