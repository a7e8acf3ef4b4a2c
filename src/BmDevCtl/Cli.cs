using System.CommandLine;
using System.Text.RegularExpressions;
using BrightDb.LocalCluster;
using Spectre.Console;

namespace BmDevCtl;

/// <summary>The bm-dev-ctl command line: parses, dispatches and maps outcomes to exit codes.</summary>
static partial class Cli
{
    /// <summary>Runs one invocation. Usage errors exit 2, failures 1, success 0.</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken = default)
    {
        var context = new CliContext(CreateConsole(output), error);
        var root = Build(context);
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var parseError in parse.Errors)
            {
                await error.WriteLineAsync($"error: {Describe(parseError.Message)}");
            }

            await error.WriteLineAsync("Run 'bm-dev-ctl --help' for the commands and their options.");
            return ExitCodes.Usage;
        }

        try
        {
            return await parse.InvokeAsync(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false }, cancellationToken);
        }
        catch (UsageException ex)
        {
            await error.WriteLineAsync($"error: {ex.Message}");
            return ExitCodes.Usage;
        }
        catch (Exception ex) when (ex is CommandFailedException or LocalClusterException or InvalidOperationException or ArgumentException
                                       or Npgsql.NpgsqlException or IOException or UnauthorizedAccessException)
        {
            await error.WriteLineAsync($"error: {ex.Message}");
            return ExitCodes.Failure;
        }
        catch (OperationCanceledException)
        {
            await error.WriteLineAsync("error: cancelled.");
            return ExitCodes.Failure;
        }
    }

    /// <summary>A parse error in the user's words: a value of the wrong type is named with what was expected, not with a .NET type.</summary>
    internal static string Describe(string message)
    {
        var match = WrongType().Match(message);
        if (!match.Success)
            return message;
        var expected = match.Groups["type"].Value switch
        {
            "Int32" or "Int64" or "Nullable`1[System.Int32]" => "a whole number",
            "Double" => "a number",
            "Boolean" => "true or false",
            "TimeSpan" => "a duration",
            _ => "a value of another kind",
        };
        return $"{match.Groups["name"].Value} expects {expected}, not '{match.Groups["value"].Value}'.";
    }

    [GeneratedRegex(@"^Cannot parse argument '(?<value>.*)' for (?:option|argument|command) '(?<name>[^']*)' as expected type '(?:System\.)?(?<type>[^']+)'\.?$")]
    private static partial Regex WrongType();

    static IAnsiConsole CreateConsole(TextWriter output)
    {
        var redirected = !ReferenceEquals(output, Console.Out) || Console.IsOutputRedirected;
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = redirected ? AnsiSupport.No : AnsiSupport.Detect,
            ColorSystem = redirected ? ColorSystemSupport.NoColors : ColorSystemSupport.Detect,
        });
        if (redirected)
        {
            // Logs and pipes get the whole table instead of one wrapped at 80 columns.
            console.Profile.Width = 240;
        }

        return console;
    }

    static RootCommand Build(CliContext context)
    {
        var baseDir = new Option<string?>("--base_dir")
        {
            Description = $"The cluster's folder (default: {CliContext.DefaultBaseDirectory}).",
            Recursive = true,
        };
        var root = new RootCommand("bm-dev-ctl: a local BrightDB (AiSQL) cluster made of PostgreSQL servers, for development and tests.");
        root.Options.Add(baseDir);
        root.Subcommands.Add(ClusterCommands.Create(context, baseDir));
        root.Subcommands.Add(ClusterCommands.Destroy(context, baseDir));
        root.Subcommands.Add(ClusterCommands.Status(context, baseDir));
        root.Subcommands.Add(ClusterCommands.Conns(context, baseDir));
        root.Subcommands.Add(ClusterCommands.YbServers(context, baseDir));
        root.Subcommands.Add(NodeCommands.AddNode(context, baseDir));
        foreach (var operation in NodeCommands.Operations(context, baseDir))
        {
            root.Subcommands.Add(operation);
        }

        root.Subcommands.Add(FaultCommand.Build(context, baseDir));
        root.Subcommands.Add(DashboardCommand.Build(context, baseDir));
        root.Subcommands.Add(RpczServeCommand.Build(baseDir));
        return root;
    }
}
