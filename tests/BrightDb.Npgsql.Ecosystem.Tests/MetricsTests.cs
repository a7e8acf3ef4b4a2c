using BrightDb.Npgsql.Diagnostics;
using Npgsql;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace BrightDb.Npgsql.Ecosystem.Tests;

[Collection(ClusterCollection.Name)]
public sealed class MetricsTests(SeedClusterFixture fixture)
{
    [Fact]
    public async Task Opens_connection_counts_and_refreshes_are_measured_per_server()
    {
        using var metrics = new MetricCollector(DriverMetrics.MeterName);
        var builder = new BrightDbDataSourceBuilder(fixture.ConnectionString("metrics-opens")) { Name = "metrics-opens" };
        await using var dataSource = builder.Build();

        var connections = new List<NpgsqlConnection>();
        for (var i = 0; i < 30; i++)
            connections.Add(await dataSource.OpenConnectionAsync());

        var opens = metrics.For(DriverMetrics.OpensName, dataSource.Name);
        Assert.Equal(30, opens.Sum(r => r.Value));
        var opensPerServer = opens.GroupBy(r => r.Tag("server.address")!).ToDictionary(g => g.Key, g => g.Sum(r => r.Value));
        Assert.All(fixture.Cluster.Nodes, n => Assert.Equal(10, opensPerServer[n.Host]));
        Assert.All(opens, r =>
        {
            Assert.Equal(fixture.Cluster.Nodes[0].Port.ToString(System.Globalization.CultureInfo.InvariantCulture), r.Tag("server.port"));
            Assert.StartsWith("aws.us-west.us-west-2", r.Tag("brightdb.placement"), StringComparison.Ordinal);
        });

        metrics.Observe();
        var counts = metrics.For(DriverMetrics.ConnectionCountName, dataSource.Name);
        Assert.Equal(3, counts.Count);
        Assert.All(fixture.Cluster.Nodes, n => Assert.Equal(10, Assert.Single(counts, c => c.Tag("server.address") == n.Host).Value));

        var refreshes = metrics.For(DriverMetrics.RefreshesName, dataSource.Name);
        Assert.Equal(1, refreshes.Sum(r => r.Value));
        Assert.Equal("success", refreshes[0].Tag("brightdb.outcome"));
        await dataSource.RefreshTopologyAsync();
        Assert.Equal(2, metrics.For(DriverMetrics.RefreshesName, dataSource.Name).Sum(r => r.Value));
        var durations = metrics.For(DriverMetrics.RefreshDurationName, dataSource.Name);
        Assert.Equal(2, durations.Count);
        Assert.All(durations, d => Assert.InRange(d.Value, 0, 30));

        foreach (var connection in connections)
            await connection.DisposeAsync();
        metrics.Observe();
        Assert.All(metrics.For(DriverMetrics.ConnectionCountName, dataSource.Name).TakeLast(3), c => Assert.Equal(0, c.Value));
    }

    [Fact]
    public async Task AddBrightDbInstrumentation_exports_the_drivers_meter_through_OpenTelemetry()
    {
        var exporter = new CollectingExporter();
        using (var meterProvider = Sdk.CreateMeterProviderBuilder()
                   .AddBrightDbInstrumentation()
                   .AddReader(new BaseExportingMetricReader(exporter))
                   .Build())
        {
            var builder = new BrightDbDataSourceBuilder(fixture.ConnectionString("metrics-otel")) { Name = "metrics-otel" };
            await using var dataSource = builder.Build();
            var connections = new List<NpgsqlConnection>();
            for (var i = 0; i < 6; i++)
                connections.Add(await dataSource.OpenConnectionAsync());

            Assert.True(meterProvider.ForceFlush());
            var opens = exporter.Points.Where(p => p.Instrument == DriverMetrics.OpensName && p.Tag("db.client.connection.pool.name") == "metrics-otel").ToList();
            Assert.Equal(3, opens.Count);
            Assert.All(opens, p => Assert.Equal(2, p.Value));
            var counts = exporter.Points.Where(p => p.Instrument == DriverMetrics.ConnectionCountName && p.Tag("db.client.connection.pool.name") == "metrics-otel").ToList();
            Assert.Equal(3, counts.Count);
            Assert.All(counts, p => Assert.Equal(2, p.Value));
            Assert.Contains(exporter.Points, p => p.Instrument == DriverMetrics.RefreshDurationName && p.Tag("db.client.connection.pool.name") == "metrics-otel");
            Assert.All(exporter.Points, p => Assert.Equal(DriverMetrics.MeterName, p.Meter));
            foreach (var connection in connections)
                await connection.DisposeAsync();
        }
    }

    /// <summary>Keeps a copy of every exported point (the SDK reuses its buffers).</summary>
    sealed class CollectingExporter : BaseExporter<Metric>
    {
        readonly List<MetricRecord> _points = [];

        public IReadOnlyList<MetricRecord> Points
        {
            get
            {
                lock (_points)
                    return [.. _points];
            }
        }

        public override ExportResult Export(in Batch<Metric> batch)
        {
            lock (_points)
            {
                foreach (var metric in batch)
                {
                    foreach (ref readonly var point in metric.GetMetricPoints())
                    {
                        var tags = new Dictionary<string, object?>(StringComparer.Ordinal);
                        foreach (var tag in point.Tags)
                            tags[tag.Key] = tag.Value;
                        double value = metric.MetricType switch
                        {
                            MetricType.LongSum or MetricType.LongSumNonMonotonic => point.GetSumLong(),
                            MetricType.DoubleSum or MetricType.DoubleSumNonMonotonic => point.GetSumDouble(),
                            MetricType.LongGauge => point.GetGaugeLastValueLong(),
                            MetricType.DoubleGauge => point.GetGaugeLastValueDouble(),
                            MetricType.Histogram => point.GetHistogramCount(),
                            _ => double.NaN,
                        };
                        _points.Add(new MetricRecord(metric.MeterName, metric.Name, value, tags));
                    }
                }
            }

            return ExportResult.Success;
        }
    }
}
