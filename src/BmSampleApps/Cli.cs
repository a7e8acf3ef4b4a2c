using System.CommandLine;
using System.Globalization;
using BmSampleApps.Running;
using BmSampleApps.Workloads;
using BrightDb.Npgsql;
using Spectre.Console;

namespace BmSampleApps;

/// <summary>The bm-sample-apps command line: the options of yb-sample-apps that make sense here, mapped to the driver's keywords.</summary>
static class Cli
{
    /// <summary>Runs one invocation: 0 when the workload ran, 1 when it could not start, 2 for a usage error.</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var (settings, exitCode) = await PrepareAsync(args, output, error, cancellationToken);
        if (settings is null)
            return exitCode;

        var console = CreateConsole(output);
        try
        {
            var result = await LiveView.RunAsync(new WorkloadRunner(settings), console, cancellationToken);
            LiveView.WriteSummary(console, result);
            if (settings.CsvPath is { } path)
            {
                await File.WriteAllTextAsync(path, LiveView.Csv(result), CancellationToken.None);
                console.WriteLine($"Per-second series: {path}");
            }

            return 0;
        }
        catch (Exception e) when (e is Npgsql.NpgsqlException or IOException or UnauthorizedAccessException)
        {
            await error.WriteLineAsync($"error: {e.Message}");
            return 1;
        }
    }

    /// <summary>The run's settings from the options; or none, and the exit code (0 after --help, 2 for a usage error).</summary>
    internal static async Task<(WorkloadSettings? Settings, int ExitCode)> PrepareAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var workload = new Option<string>("--workload") { Description = $"The workload: {string.Join(", ", Workload.Names)}.", Required = true };
        workload.AcceptOnlyFromAmong([.. Workload.Names]);
        var nodes = new Option<string>("--nodes") { Description = "host:port of one node or more, comma-separated (the driver learns the others from yb_servers()).", Required = true };
        var readThreads = new Option<int>("--num_threads_read") { Description = "Threads reading.", DefaultValueFactory = _ => 2 };
        var writeThreads = new Option<int>("--num_threads_write") { Description = "Threads writing.", DefaultValueFactory = _ => 2 };
        var uniqueKeys = new Option<long>("--num_unique_keys") { Description = "Keys the writers share out (inserts stop once theirs are written).", DefaultValueFactory = _ => 1_000_000 };
        var duration = new Option<int>("--duration") { Description = "Seconds to run; 0 runs until Ctrl-C.", DefaultValueFactory = _ => 0 };
        var loadBalance = new Option<string>("--load_balance") { Description = "The driver's load_balance: true, false, any, only-primary, only-rr, prefer-primary, prefer-rr.", DefaultValueFactory = _ => "true" };
        var topologyKeys = new Option<string?>("--topology_keys") { Description = "The driver's topology_keys, for example aws.us-west.us-west-2a." };
        var user = new Option<string>("--username") { Description = "The user.", DefaultValueFactory = _ => "bigmath" };
        var password = new Option<string?>("--password") { Description = "The password (default: PGPASSWORD, then the password file; the local cluster's is bigmath)." };
        var database = new Option<string>("--database") { Description = "The database.", DefaultValueFactory = _ => "bigmath" };
        var table = new Option<string?>("--table") { Description = "The table, dropped and made afresh on each node at the start (default: bm_<workload>)." };
        var property = new Option<string[]>("--property") { Description = "Any other connection keyword of the driver, as key=value (repeatable), for example --property \"Max Pool Size=20\".", AllowMultipleArgumentsPerToken = false };
        var csv = new Option<string?>("--csv") { Description = "Writes the per-second series to this CSV file at the end." };

        var root = new RootCommand(
            "Runs a workload through the BrightDB .NET smart driver and shows, every second, operations and latencies by kind, connections and " +
            "operations per node, and errors; a summary at the end. Each operation opens a balanced connection, reads or writes on the node it " +
            "reached, and closes it. The local cluster's nodes share no data: the table is made on every node, and reads ask a node for keys " +
            "written on that node.\n\nExample: bm-sample-apps --workload SqlInserts --nodes 127.0.0.1:2521 --duration 20 --num_threads_write 4 --num_threads_read 8")
        {
            workload, nodes, readThreads, writeThreads, uniqueKeys, duration, loadBalance, topologyKeys, user, password, database, table, property, csv,
        };

        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var parseError in parse.Errors)
                await error.WriteLineAsync($"error: {parseError.Message}");
            await error.WriteLineAsync("Run 'bm-sample-apps --help' for the options.");
            return (null, 2);
        }

        if (args.Any(a => a is "--help" or "-h" or "-?"))
            return (null, await parse.InvokeAsync(new InvocationConfiguration { Output = output, Error = error }, cancellationToken));

        try
        {
            var builder = new BrightDbConnectionStringBuilder
            {
                ["Host"] = parse.GetValue(nodes)!,
                ["Username"] = parse.GetValue(user)!,
                ["Database"] = parse.GetValue(database)!,
                ["Load Balance Hosts"] = parse.GetValue(loadBalance)!,
                ["Application Name"] = "bm-sample-apps",
            };
            if (parse.GetValue(password) is { } secret)
                builder["Password"] = secret;
            if (parse.GetValue(topologyKeys) is { Length: > 0 } keys)
                builder["Topology Keys"] = keys;
            foreach (var pair in parse.GetValue(property) ?? [])
            {
                var split = pair.IndexOf('=', StringComparison.Ordinal);
                if (split <= 0)
                    throw new ArgumentException($"--property '{pair}': expected key=value.");
                builder[pair[..split].Trim()] = pair[(split + 1)..].Trim();
            }

            var name = parse.GetValue(workload)!;
            var reads = parse.GetValue(readThreads);
            var writes = parse.GetValue(writeThreads);
            if (reads < 0 || writes < 0 || reads + writes == 0)
                throw new ArgumentException("--num_threads_read and --num_threads_write: at least one thread, none negative.");
            if (parse.GetValue(uniqueKeys) <= 0)
                throw new ArgumentException("--num_unique_keys: a positive number of keys.");
            if (parse.GetValue(duration) < 0)
                throw new ArgumentException("--duration: seconds, 0 or more.");
            var tableName = parse.GetValue(table) ?? $"bm_{name.ToLowerInvariant()}";
            if (!System.Text.RegularExpressions.Regex.IsMatch(tableName, "^[a-z_][a-z0-9_]{0,50}$"))
                throw new ArgumentException($"--table '{tableName}': lower-case letters, digits and _ only.");
            return (new WorkloadSettings(
                name, builder.ConnectionString, reads, writes, parse.GetValue(uniqueKeys), TimeSpan.FromSeconds(parse.GetValue(duration)),
                parse.GetValue(csv), tableName), 0);
        }
        catch (ArgumentException e)
        {
            await error.WriteLineAsync($"error: {e.Message}");
            return (null, 2);
        }
    }


    static IAnsiConsole CreateConsole(TextWriter output)
    {
        var redirected = !ReferenceEquals(output, Console.Out) || Console.IsOutputRedirected;
        return AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = redirected ? AnsiSupport.No : AnsiSupport.Detect,
            ColorSystem = redirected ? ColorSystemSupport.NoColors : ColorSystemSupport.Detect,
            Interactive = redirected ? InteractionSupport.No : InteractionSupport.Detect,
        });
    }

    internal static string Ms(double value) => value.ToString(value < 10 ? "F2" : "F1", CultureInfo.InvariantCulture);
}
