using System.Collections.Concurrent;
using BrightDb.Npgsql.Diagnostics;
using Microsoft.Extensions.Logging;

namespace BrightDb.Npgsql.Ecosystem.Tests;

/// <summary>Topology changed, host marked down, host back: on a cluster of its own, since it kills a node.</summary>
public sealed class EventsTests : IAsyncLifetime
{
    LocalCluster.LocalCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await LocalCluster.LocalCluster.StartAsync(SeedClusterFixture.SeedPlacements);

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task Topology_change_host_down_and_host_up_raise_events_logs_and_metrics()
    {
        var logs = new CapturingLoggerProvider();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Debug));
        using var metrics = new MetricCollector(DriverMetrics.MeterName);
        // Unpooled: every open is a new physical connection, so a killed server is noticed by the next open on it.
        var builder = new BrightDbDataSourceBuilder(
            Ecosystem.ConnectionString(_cluster, "events", "Pooling=false;Failed Host Reconnect Delay Secs=1")) { Name = "events" };
        builder.UseLoggerFactory(loggerFactory);
        await using var dataSource = builder.Build();

        var changes = new ConcurrentQueue<TopologyChangedEventArgs>();
        var downs = new ConcurrentQueue<ServerStatusEventArgs>();
        var ups = new ConcurrentQueue<ServerStatusEventArgs>();
        dataSource.TopologyChanged += (sender, e) =>
        {
            Assert.Same(dataSource, sender);
            changes.Enqueue(e);
        };
        dataSource.HostMarkedDown += (_, e) => downs.Enqueue(e);
        dataSource.HostMarkedUp += (_, e) => ups.Enqueue(e);

        await (await dataSource.OpenConnectionAsync()).DisposeAsync();
        var first = Assert.Single(changes);
        Assert.Null(first.OldTopology);
        Assert.Equal(_cluster.Nodes.Select(n => n.Host).Order(), first.NewTopology.Servers.Select(s => s.ConnectHost).Order());
        Assert.Same(first.NewTopology, dataSource.Topology);

        var victim = _cluster.Nodes[1];
        await _cluster.KillNodeAsync(victim.Index);
        // Opens go on (failing over from the dead server) until one of them is the one that finds it dead. Each open chooses
        // among the three servers at random (all hold nothing): 12 opens would all miss the dead one with a chance of
        // (2/3)^12, about 1 run in 130; 60 opens, about 1 in 4 * 10^10.
        var reached = new List<string>();
        for (var i = 0; i < 60 && downs.IsEmpty; i++)
        {
            await using var connection = await dataSource.OpenConnectionAsync();
            reached.Add(connection.Host!);
            Assert.NotEqual(victim.Host, connection.Host);
        }

        Assert.True(downs.Count == 1, $"{downs.Count} servers marked down after opens that reached {string.Join(", ", reached)}");
        var down = downs.Single();
        Assert.Equal(victim.Host, down.Host);
        Assert.Equal(victim.Port, down.Port);
        Assert.False(string.IsNullOrEmpty(down.Reason));
        Assert.Contains(logs.Entries, e => e is { EventId.Id: 3001, Level: LogLevel.Warning, Category: "BrightDb.Npgsql.Failover" }
                                          && e.Message.Contains(victim.Host, StringComparison.Ordinal));
        Assert.Equal(1, metrics.For(DriverMetrics.HostsMarkedDownName, "events").Where(r => r.Tag("server.address") == victim.Host).Sum(r => r.Value));
        Assert.True(metrics.For(DriverMetrics.FailoversName, "events").Where(r => r.Tag("server.address") == victim.Host).Sum(r => r.Value) >= 1);

        // While it is down, opens skip it.
        for (var i = 0; i < 4; i++)
        {
            await using var connection = await dataSource.OpenConnectionAsync();
            Assert.NotEqual(victim.Host, connection.Host);
        }

        // Back: once its reconnect delay (1 s) has passed, an open probes it and it is marked up. Opens go on until then.
        await _cluster.StartNodeAsync(victim.Index);
        var back = await Ecosystem.EventuallyAsync(async () =>
        {
            await using var connection = await dataSource.OpenConnectionAsync();
            return !ups.IsEmpty;
        }, TimeSpan.FromSeconds(15));
        Assert.True(back, "HostMarkedUp was not raised after the node restarted.");
        var up = Assert.Single(ups);
        Assert.Equal(victim.Host, up.Host);
        Assert.Null(up.Reason);
        Assert.Contains(logs.Entries, e => e is { EventId.Id: 3002, Level: LogLevel.Warning } && e.Message.Contains(victim.Host, StringComparison.Ordinal));

        // The same servers came back: no further topology change was reported.
        Assert.Single(changes);
    }
}
