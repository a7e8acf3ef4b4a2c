using System.Diagnostics;
using Npgsql;
using OpenTelemetry;
using OpenTelemetry.Trace;

namespace BrightDb.Npgsql.Ecosystem.Tests;

/// <summary>
/// <c>AddBrightDbInstrumentation()</c> on a <c>TracerProviderBuilder</c>: the driver's spans for discovery, failover and
/// hedging, tagged with the server and its placement, and Npgsql's command spans, exported through OpenTelemetry's SDK to
/// an exporter that keeps them in memory. A cluster of its own: a node is killed and another paused.
/// </summary>
public sealed class TracingTests : IAsyncLifetime
{
    const string Secret = "tracing-secret-7";

    LocalCluster.LocalCluster _cluster = null!;

    public async Task InitializeAsync() =>
        _cluster = await LocalCluster.LocalCluster.StartAsync(new LocalCluster.LocalClusterOptions
        {
            Nodes = [.. new[] { "aws.us-west.us-west-2a", "aws.us-west.us-west-2b", "aws.us-west.us-west-2c" }
                .Select(p => new LocalCluster.NodeSpec(LocalCluster.Placement.Parse(p)))],
            Password = Secret,
        });

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    /// <summary>
    /// An exporter that keeps what it is given, readable while other test classes' spans are still being exported
    /// (OpenTelemetry's in-memory exporter fills a list that a reader cannot lock together with it).
    /// </summary>
    sealed class InMemoryExporter : BaseExporter<Activity>
    {
        readonly List<Activity> _spans = [];

        public List<Activity> Spans
        {
            get
            {
                lock (_spans)
                    return [.. _spans];
            }
        }

        public override ExportResult Export(in Batch<Activity> batch)
        {
            lock (_spans)
            {
                foreach (var span in batch)
                    _spans.Add(span);
            }

            return ExportResult.Success;
        }
    }

    static string Describe(IEnumerable<Activity> spans) => string.Join("; ", spans.Select(s =>
        $"{s.StartTimeUtc:HH:mm:ss.fff} {s.OperationName} {s.Duration.TotalMilliseconds:F0} ms {s.Status} [{string.Join(", ", s.TagObjects.Select(t => $"{t.Key}={t.Value}"))}]"));

    static async Task CloseAsync(List<NpgsqlConnection> connections)
    {
        foreach (var connection in connections)
            await connection.DisposeAsync();
    }

    [Fact]
    public async Task Discovery_failover_and_hedging_are_spans_tagged_with_the_server_and_its_placement()
    {
        var exporter = new InMemoryExporter();
        using var tracing = Sdk.CreateTracerProviderBuilder()
            .AddBrightDbInstrumentation()
            .AddProcessor(new SimpleActivityExportProcessor(exporter))
            .Build();
        var first = _cluster.Nodes[0];
        // Other test classes of this process make spans too: this test looks at its own data source's, by name.
        const string Name = "eco-tracing";
        await using var dataSource = new BrightDbDataSourceBuilder(
            $"Host={first.Host};Port={first.Port};Database=bigmath;Username=bigmath;Password={Secret};Load Balance Hosts=true;" +
            "Application Name=eco-tracing;Pooling=false;Timeout=10;Hedged Open Delay=500;Failed Host Reconnect Delay Secs=60") { Name = Name }.Build();
        List<Activity> Own() => [.. exporter.Spans.Where(s => Name.Equals(s.GetTagItem("brightdb.data_source")))];

        // Discovery, then one connection per server, each running a command (Npgsql's spans).
        await CloseAsync(await Ecosystem.OpenAndQueryAsync(dataSource, 3));
        var discoveries = Own().Where(s => s.OperationName == "brightdb.discovery").ToList();
        Assert.True(discoveries.Count == 1, $"{discoveries.Count} discovery spans: {Describe(Own())}");
        var discovery = discoveries[0];
        Assert.Equal(BrightDbTracerProviderBuilderExtensions.ActivitySourceName, discovery.Source.Name);
        Assert.Contains(discovery.GetTagItem("server.address") as string, _cluster.Nodes.Select(n => n.Host));
        Assert.Equal(3, discovery.GetTagItem("brightdb.servers"));
        var hosts = _cluster.Nodes.Select(n => n.Host).ToHashSet();
        Assert.True(exporter.Spans.Count(s => s.Source.Name == BrightDbTracerProviderBuilderExtensions.NpgsqlActivitySourceName
                                              && s.TagObjects.Any(t => hosts.Contains(t.Value?.ToString() ?? ""))) >= 3,
            "Npgsql's command spans were not exported");

        // Node 2 killed: the open that chooses it fails over, one span naming it.
        var killed = _cluster.Nodes[1];
        await _cluster.KillNodeAsync(killed.Index);
        await CloseAsync(await Ecosystem.OpenAndQueryAsync(dataSource, 3));
        var failover = Assert.Single(Own(), s => s.OperationName == "brightdb.failover");
        Assert.Equal(killed.Host, failover.GetTagItem("server.address"));
        Assert.Equal(killed.Port, failover.GetTagItem("server.port"));
        Assert.Equal("aws.us-west.us-west-2b", failover.GetTagItem("brightdb.placement"));
        Assert.False(string.IsNullOrEmpty(failover.GetTagItem("brightdb.failover.reason") as string));

        // Node 3 paused: the open that chooses it waits one hedge delay, then races node 1, which wins.
        var paused = _cluster.Nodes[2];
        var pausedAt = DateTime.UtcNow;
        await _cluster.PauseNodeAsync(paused.Index);
        try
        {
            var held = await Ecosystem.OpenAndQueryAsync(dataSource, 2);
            Assert.All(held, c => Assert.Equal(first.Host, c.Host));
            await CloseAsync(held);
        }
        finally
        {
            await _cluster.ResumeNodeAsync(paused.Index);
        }

        // One race against the paused server. (A cold first open slower than the 500 ms hedge delay may have raced its
        // own server before the pause, and won.)
        var hedges = Own().Where(s => s.OperationName == "brightdb.hedge" && s.StartTimeUtc >= pausedAt).ToList();
        Assert.True(hedges.Count == 1, $"{hedges.Count} hedge spans on the paused server: {Describe(Own())}");
        var hedge = hedges[0];
        Assert.Equal("aws.us-west.us-west-2c", hedge.GetTagItem("brightdb.placement"));
        Assert.Equal($"{first.Host}:{first.Port}", hedge.GetTagItem("brightdb.hedge.winner"));

        // No span of the driver's, nor Npgsql's, carries the password.
        Assert.All(exporter.Spans, span =>
        {
            Assert.DoesNotContain(Secret, span.StatusDescription ?? "", StringComparison.Ordinal);
            Assert.All(span.TagObjects, tag => Assert.DoesNotContain(Secret, tag.Value?.ToString() ?? "", StringComparison.Ordinal));
        });
    }
}
