using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text;

namespace BrightDb.Npgsql.Ecosystem.Tests;

/// <summary>
/// The package as a user gets it: packed, restored into a new console project from a local folder feed, and balancing
/// 30 connections 10/10/10 on a local cluster.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class PackageTests(SeedClusterFixture fixture)
{
    const string Program = """
        using BrightDb.Npgsql;

        await using var dataSource = BrightDbDataSource.Create(args[0]);
        var connections = new List<Npgsql.NpgsqlConnection>();
        for (var i = 0; i < 30; i++)
            connections.Add(await dataSource.OpenConnectionAsync());
        foreach (var (host, count) in dataSource.GetHostToConnectionMap().OrderBy(p => p.Key, StringComparer.Ordinal))
            Console.WriteLine($"map {host} {count}");
        foreach (var connection in connections)
            await connection.DisposeAsync();
        """;

    [Fact]
    public async Task The_packed_driver_restores_into_a_new_console_project_and_balances_30_connections()
    {
        var repo = RepositoryRoot();
        var work = Directory.CreateTempSubdirectory("brightdb-package-");
        // A version no earlier run used: NuGet's global cache would otherwise hand out an older package of the same version.
        var version = $"0.0.0-smoke.{DateTime.UtcNow:yyyyMMddHHmmss}.{Environment.ProcessId}";
        var cached = Path.Combine(NuGetPackagesFolder(), "brightdb.npgsql", version);
        try
        {
            var feed = Path.Combine(work.FullName, "feed");
            await RunAsync(repo, "pack", Path.Combine(repo, "src", "BrightDb.Npgsql", "BrightDb.Npgsql.csproj"), "-c", "Release",
                "-o", feed, "--artifacts-path", Path.Combine(work.FullName, "artifacts"), $"-p:Version={version}", "-nologo", "-v", "q");
            Assert.True(File.Exists(Path.Combine(feed, $"BrightDb.Npgsql.{version}.nupkg")));
            Assert.True(File.Exists(Path.Combine(feed, $"BrightDb.Npgsql.{version}.snupkg")));

            var app = Path.Combine(work.FullName, "app");
            await RunAsync(work.FullName, "new", "console", "-o", app, "-n", "SmokeApp", "--no-restore");
            // The app sits outside the repository: no Directory.Build.props or central package versions apply to it.
            await File.WriteAllTextAsync(Path.Combine(app, "nuget.config"), $"""
                <?xml version="1.0" encoding="utf-8"?>
                <configuration>
                  <packageSources>
                    <add key="local" value="{feed}" />
                  </packageSources>
                </configuration>
                """);
            await File.WriteAllTextAsync(Path.Combine(app, "Program.cs"), Program);
            await RunAsync(app, "add", "package", "BrightDb.Npgsql", "--version", version);
            var output = await RunAsync(app, "run", "--", Ecosystem.ConnectionString(fixture.Cluster, "package-smoke", "Pooling=false"));

            var map = output.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
                .Where(l => l.StartsWith("map ", StringComparison.Ordinal)).Select(l => l.Split(' '))
                .ToDictionary(p => p[1], p => int.Parse(p[2], System.Globalization.CultureInfo.InvariantCulture));
            Assert.Equal(fixture.Cluster.Nodes.Select(n => n.Host).Order(), map.Keys.Order());
            Assert.All(map.Values, count => Assert.Equal(10, count));
        }
        finally
        {
            work.Delete(recursive: true);
            if (Directory.Exists(cached))
                Directory.Delete(cached, recursive: true);
        }
    }

    [Fact]
    public async Task Bm_dev_ctl_packs_as_a_dotnet_tool_that_installs_from_a_folder_and_runs()
    {
        var repo = RepositoryRoot();
        var work = Directory.CreateTempSubdirectory("bm-dev-ctl-tool-");
        var version = $"0.0.0-smoke.{DateTime.UtcNow:yyyyMMddHHmmss}.{Environment.ProcessId}";
        var cached = Path.Combine(NuGetPackagesFolder(), "bm-dev-ctl", version);
        try
        {
            var feed = Path.Combine(work.FullName, "feed");
            await RunAsync(repo, "pack", Path.Combine(repo, "src", "BmDevCtl", "BmDevCtl.csproj"), "-c", "Release",
                "-o", feed, "--artifacts-path", Path.Combine(work.FullName, "artifacts"), $"-p:Version={version}", "-nologo", "-v", "q");
            Assert.True(File.Exists(Path.Combine(feed, $"bm-dev-ctl.{version}.nupkg")));

            var tools = Path.Combine(work.FullName, "tools");
            await RunAsync(work.FullName, "tool", "install", "bm-dev-ctl", "--tool-path", tools, "--add-source", feed, "--version", version);
            var tool = Path.Combine(tools, "bm-dev-ctl");
            Assert.StartsWith(version, (await RunToolAsync(tool, "--version")).Trim(), StringComparison.Ordinal);
            Assert.Contains("--address_block", await RunToolAsync(tool, "create", "--help"), StringComparison.Ordinal);
        }
        finally
        {
            work.Delete(recursive: true);
            if (Directory.Exists(cached))
                Directory.Delete(cached, recursive: true);
        }

        static async Task<string> RunToolAsync(string tool, params string[] arguments)
        {
            var start = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var argument in arguments)
                start.ArgumentList.Add(argument);
            using var process = Process.Start(start)!;
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            Assert.True(process.ExitCode == 0, $"{tool} {string.Join(' ', arguments)} exited {process.ExitCode}: {await error}");
            return await output;
        }
    }

    static async Task<string> RunAsync(string directory, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";
        // Not this test host's MSBuild node or SDK resolver state: a plain command line, as a user would type it.
        start.Environment.Remove("MSBuildExtensionsPath");
        start.Environment.Remove("MSBuildSDKsPath");
        start.Environment.Remove("MSBUILD_EXE_PATH");
        using var process = Process.Start(start)!;
        var output = new StringBuilder();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        output.Append(await stdout).Append(await stderr);
        Assert.True(process.ExitCode == 0, $"dotnet {string.Join(' ', arguments)} exited with {process.ExitCode}:\n{output}");
        return output.ToString();
    }

    static string RepositoryRoot([CallerFilePath] string source = "")
    {
        var directory = new DirectoryInfo(Path.GetDirectoryName(source)!);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "BrightDb.slnx")))
            directory = directory.Parent;
        return directory?.FullName ?? throw new InvalidOperationException($"No BrightDb.slnx above {source}.");
    }

    static string NuGetPackagesFolder() =>
        Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } folder
            ? folder
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
}
