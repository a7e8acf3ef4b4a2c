using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Npgsql;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace BrightDb.Npgsql.Ecosystem.Tests;

/// <summary>
/// <c>builder.AddBrightDbDataSource("name")</c> on a .NET host: the data source from configuration, its health check,
/// tracing and metrics, each of which the section can switch off.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class HostingTests(SeedClusterFixture fixture)
{
    Dictionary<string, string?> Settings(string app)
    {
        var first = fixture.Cluster.Nodes[0];
        return new()
        {
            ["ConnectionStrings:cluster"] = $"Host={first.Host};Port={first.Port};Database=bigmath;Username=bigmath",
            ["BrightDb:cluster:Password"] = fixture.Cluster.Password,
            ["BrightDb:cluster:Load Balance Hosts"] = "true",
            ["BrightDb:cluster:Application Name"] = app,
            ["BrightDb:cluster:Hedged Open Delay"] = "10000",
        };
    }

    static HostApplicationBuilder Builder(Dictionary<string, string?> settings)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(settings);
        return builder;
    }

    [Fact]
    public async Task One_call_registers_the_data_source_its_health_check_tracing_and_metrics()
    {
        const string app = "eco-hosting";
        var spans = new ConcurrentQueue<Activity>();
        var builder = Builder(Settings(app));
        builder.AddBrightDbDataSource("cluster", configureDataSource: (_, b) => b.Name = app);
        builder.Services.AddOpenTelemetry().WithTracing(tracing => tracing.AddProcessor(new Collect(spans)));
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            var dataSource = host.Services.GetRequiredService<BrightDbDataSource>();
            var held = await Ecosystem.OpenAndQueryAsync(dataSource, 3);
            Assert.Equal(new[] { 1, 1, 1 }, await Ecosystem.ServerCountsAsync(fixture.Cluster, app));

            var report = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();
            Assert.Equal(HealthStatus.Healthy, Assert.Contains("brightdb_cluster", report.Entries).Status);

            Assert.NotNull(host.Services.GetService<MeterProvider>());
            Assert.NotNull(host.Services.GetService<TracerProvider>());
            // The driver's discovery span of this data source, and Npgsql's command spans, reached the host's tracing.
            Assert.Contains(spans, s => s.Source.Name == BrightDbTracerProviderBuilderExtensions.ActivitySourceName && s.DisplayName == "brightdb.discovery"
                && s.TagObjects.Any(t => t.Value as string == app));
            Assert.Contains(spans, s => s.Source.Name == BrightDbTracerProviderBuilderExtensions.NpgsqlActivitySourceName);
            foreach (var connection in held)
                await connection.DisposeAsync();
        }
        finally
        {
            await host.StopAsync();
        }
    }

    [Fact]
    public async Task The_section_switches_off_the_health_check_tracing_and_metrics()
    {
        const string app = "eco-hosting-off";
        var settings = Settings(app);
        settings["BrightDb:cluster:DisableHealthChecks"] = "true";
        settings["BrightDb:cluster:DisableTracing"] = "true";
        settings["BrightDb:cluster:DisableMetrics"] = "True";
        var builder = Builder(settings);
        builder.AddBrightDbDataSource("cluster");
        using var host = builder.Build();

        Assert.Null(host.Services.GetService<HealthCheckService>());
        Assert.Null(host.Services.GetService<TracerProvider>());
        Assert.Null(host.Services.GetService<MeterProvider>());
        // The switches are not taken for connection keywords.
        var held = await Ecosystem.OpenAndQueryAsync(host.Services.GetRequiredService<BrightDbDataSource>(), 3);
        Assert.Equal(new[] { 1, 1, 1 }, await Ecosystem.ServerCountsAsync(fixture.Cluster, app));
        foreach (var connection in held)
            await connection.DisposeAsync();
    }

    [Fact]
    public void A_switch_that_is_not_true_or_false_is_named()
    {
        var settings = Settings("eco-hosting-bad");
        settings["BrightDb:cluster:DisableTracing"] = "maybe";
        var error = Assert.Throws<InvalidOperationException>(() => Builder(settings).AddBrightDbDataSource("cluster"));
        Assert.Contains("BrightDb:cluster:DisableTracing", error.Message, StringComparison.Ordinal);
        Assert.Contains("maybe", error.Message, StringComparison.Ordinal);
    }

    sealed class Collect(ConcurrentQueue<Activity> spans) : BaseProcessor<Activity>
    {
        public override void OnEnd(Activity data) => spans.Enqueue(data);
    }
}
