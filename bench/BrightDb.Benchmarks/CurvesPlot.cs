using ScottPlot;

namespace BrightDb.Benchmarks;

/// <summary>Draws the curves of <see cref="CurvesHarness"/>: one line per node over the seconds of the run, the cluster's changes marked.</summary>
static class CurvesPlot
{
    const int Width = 1000;
    const int Height = 420;

    /// <summary>The share of the queries each node served, second by second (percent of that second's queries).</summary>
    internal static void Share(
        IReadOnlyList<CurvesHarness.Second> seconds, int[] nodes, IReadOnlyDictionary<int, string> labels, IReadOnlyList<CurvesHarness.Event> events, string path)
    {
        var plot = new Plot();
        var xs = seconds.Select(s => (double)s.At).ToArray();
        foreach (var node in nodes)
        {
            var ys = seconds.Select(s => s.Served.Values.Sum() is var total and > 0 ? 100.0 * s.Served.GetValueOrDefault(node) / total : 0).ToArray();
            var line = plot.Add.ScatterLine(xs, ys);
            line.LegendText = labels[node];
            line.LineWidth = 2;
        }

        Finish(plot, events, "Share of the queries served per node, per second (60 workers)", "share of the second's queries (%)", path);
    }

    /// <summary>The client connections each server held, idle pooled ones included, sampled every second.</summary>
    internal static void Connections(
        IReadOnlyList<CurvesHarness.Second> seconds, int[] nodes, IReadOnlyDictionary<int, string> labels, IReadOnlyList<CurvesHarness.Event> events, string path)
    {
        var plot = new Plot();
        var xs = seconds.Select(s => (double)s.At).ToArray();
        foreach (var node in nodes)
        {
            var line = plot.Add.ScatterLine(xs, seconds.Select(s => (double)s.Held.GetValueOrDefault(node)).ToArray());
            line.LegendText = labels[node];
            line.LineWidth = 2;
        }

        Finish(plot, events, "Client connections each server holds (idle pooled ones included)", "connections", path);
    }

    static void Finish(Plot plot, IReadOnlyList<CurvesHarness.Event> events, string title, string yLabel, string path)
    {
        foreach (var change in events)
        {
            var marker = plot.Add.VerticalLine(change.At);
            marker.LabelText = change.What;
            marker.Color = Colors.Gray;
            marker.LinePattern = LinePattern.Dashed;
        }

        plot.Title(title);
        plot.Axes.Bottom.Label.Text = "seconds since the workers started";
        plot.Axes.Left.Label.Text = yLabel;
        plot.Axes.SetLimitsY(0, plot.Axes.GetLimits().Top * 1.1);
        plot.ShowLegend(Alignment.UpperRight);
        plot.SavePng(path, Width, Height);
    }
}
