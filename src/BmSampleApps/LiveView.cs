using System.Globalization;
using System.Text;
using BmSampleApps.Running;
using Spectre.Console;

namespace BmSampleApps;

/// <summary>What the user sees: a live table redrawn every second (a line per second when the output is not a terminal), the summary, the CSV.</summary>
static class LiveView
{
    public static async Task<RunResult> RunAsync(WorkloadRunner runner, IAnsiConsole console, CancellationToken cancellationToken)
    {
        if (!console.Profile.Capabilities.Interactive)
        {
            return await runner.RunAsync((second, connections) => console.WriteLine(Line(second, connections)), cancellationToken);
        }

        RunResult? result = null;
        var table = new Table();
        await console.Live(table).StartAsync(async context =>
        {
            result = await runner.RunAsync((second, connections) =>
            {
                Fill(table, second, connections);
                context.Refresh();
            }, cancellationToken);
        });
        return result!;
    }

    static string Line(Second s, IReadOnlyDictionary<string, int> connections) =>
        string.Create(CultureInfo.InvariantCulture,
            $"{s.Number,4}s  reads {s.Reads,6}/s p50 {Cli.Ms(s.ReadP50)} p99 {Cli.Ms(s.ReadP99)} ms  writes {s.Writes,6}/s p50 {Cli.Ms(s.WriteP50)} p99 {Cli.Ms(s.WriteP99)} ms  failed {s.Failed}  ") +
        string.Join("  ", Nodes(s, connections).Select(n => string.Create(CultureInfo.InvariantCulture, $"{n}: {connections.GetValueOrDefault(n)} conn {s.OpsByNode.GetValueOrDefault(n)} ops")));

    static IEnumerable<string> Nodes(Second s, IReadOnlyDictionary<string, int> connections) =>
        connections.Keys.Concat(s.OpsByNode.Keys).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal);

    static void Fill(Table table, Second s, IReadOnlyDictionary<string, int> connections)
    {
        table.Rows.Clear();
        if (table.Columns.Count == 0)
            table.AddColumns("", "ops/s", "p50 ms", "p99 ms");
        table.Title = new TableTitle($"second {s.Number.ToString(CultureInfo.InvariantCulture)}");
        table.AddRow("reads", s.Reads.ToString(CultureInfo.InvariantCulture), Cli.Ms(s.ReadP50), Cli.Ms(s.ReadP99));
        table.AddRow("writes", s.Writes.ToString(CultureInfo.InvariantCulture), Cli.Ms(s.WriteP50), Cli.Ms(s.WriteP99));
        table.AddRow("failed", s.Failed.ToString(CultureInfo.InvariantCulture), "", "");
        foreach (var node in Nodes(s, connections))
        {
            table.AddRow(
                Markup.Escape($"node {node}"),
                s.OpsByNode.GetValueOrDefault(node).ToString(CultureInfo.InvariantCulture),
                Markup.Escape($"{connections.GetValueOrDefault(node)} connections"),
                "");
        }

        foreach (var (kind, count) in s.ErrorsSoFar)
            table.AddRow("[red]error[/]", count.ToString(CultureInfo.InvariantCulture), Markup.Escape(kind), "");
    }

    public static void WriteSummary(IAnsiConsole console, RunResult result)
    {
        var t = result.Totals;
        var seconds = Math.Max(result.Elapsed.TotalSeconds, 0.001);
        console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Summary: {result.Settings.Workload}, {result.Settings.WriteThreads} writers and {result.Settings.ReadThreads} readers, {result.Elapsed.TotalSeconds:F1} s."));
        console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"reads: {t.Reads} ({t.Reads / seconds:F0}/s), p50 {Cli.Ms(t.ReadP50)} ms, p99 {Cli.Ms(t.ReadP99)} ms; writes: {t.Writes} ({t.Writes / seconds:F0}/s), p50 {Cli.Ms(t.WriteP50)} ms, p99 {Cli.Ms(t.WriteP99)} ms; failed: {t.Failed}"));
        var table = new Table().AddColumns("node", "reads", "writes", "failed", "rows written");
        foreach (var (node, n) in t.Nodes.OrderBy(n => n.Key, StringComparer.Ordinal))
        {
            table.AddRow(Markup.Escape(node), n.Reads.ToString(CultureInfo.InvariantCulture), n.Writes.ToString(CultureInfo.InvariantCulture),
                n.Failed.ToString(CultureInfo.InvariantCulture), n.RowsAdded.ToString(CultureInfo.InvariantCulture));
        }

        console.Write(table);
        foreach (var (kind, count) in t.Errors.OrderByDescending(e => e.Value))
            console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"error x{count}: {kind}"));
    }

    public static string Csv(RunResult result)
    {
        var nodes = result.Seconds.SelectMany(s => s.OpsByNode.Keys).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var csv = new StringBuilder("second,reads,read_p50_ms,read_p99_ms,writes,write_p50_ms,write_p99_ms,failed");
        foreach (var node in nodes)
            csv.Append(CultureInfo.InvariantCulture, $",ops_{node}");
        csv.Append('\n');
        foreach (var s in result.Seconds)
        {
            csv.Append(CultureInfo.InvariantCulture, $"{s.Number},{s.Reads},{s.ReadP50:F3},{s.ReadP99:F3},{s.Writes},{s.WriteP50:F3},{s.WriteP99:F3},{s.Failed}");
            foreach (var node in nodes)
                csv.Append(CultureInfo.InvariantCulture, $",{s.OpsByNode.GetValueOrDefault(node)}");
            csv.Append('\n');
        }

        return csv.ToString();
    }
}
