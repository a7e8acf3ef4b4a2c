using BrightDb.LocalCluster;
using BrightDb.Npgsql.HealthChecks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;

namespace BrightDb.Npgsql.Ecosystem.Tests;

/// <summary>
/// <c>AddHealthChecks().AddBrightDb()</c> on a 3-node local cluster of its own: Healthy with every node up, Degraded once a
/// killed node is marked down (and when no server matches the preferred topology key), Unhealthy when no node answers;
/// the report's data lists each server.
/// </summary>
public sealed class HealthCheckTests : IAsyncLifetime
{
    LocalCluster.LocalCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await LocalCluster.LocalCluster.StartAsync(SeedClusterFixture.SeedPlacements);

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task Healthy_then_Degraded_with_a_node_down_then_Unhealthy_with_none_answering()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddBrightDbDataSource(Ecosystem.ConnectionString(_cluster, "health", "Timeout=5"));
        services.AddBrightDbDataSource(Ecosystem.ConnectionString(_cluster, "health-elsewhere", "Topology Keys=aws.us-east.us-east-1a"), serviceKey: "elsewhere");
        services.AddHealthChecks().AddBrightDb().AddBrightDb("brightdb-elsewhere", dataSourceKey: "elsewhere");
        await using var provider = services.BuildServiceProvider();
        var health = provider.GetRequiredService<HealthCheckService>();
        var dataSource = provider.GetRequiredService<BrightDbDataSource>();
        var nodes = _cluster.Nodes.Select(n => $"{n.Host}:{n.Port}").ToList();

        var report = await health.CheckHealthAsync(r => r.Name == "brightdb");
        var entry = report.Entries["brightdb"];
        Assert.Equal(HealthStatus.Healthy, entry.Status);
        Assert.Equal(nodes.Order(), entry.Data.Keys.Order());
        Assert.All(entry.Data.Values, v => Assert.StartsWith("up;", (string)v, StringComparison.Ordinal));

        // No server is in the preferred zone: the connections go elsewhere, and the check says so.
        var elsewhere = (await health.CheckHealthAsync(r => r.Name == "brightdb-elsewhere")).Entries["brightdb-elsewhere"];
        Assert.Equal(HealthStatus.Degraded, elsewhere.Status);
        Assert.Contains("preferred", elsewhere.Description, StringComparison.Ordinal);

        // Node 2 killed: the next opens (three held ones, one of which chooses node 2) mark it down.
        await _cluster.KillNodeAsync(2);
        var held = new List<NpgsqlConnection>();
        for (var i = 0; i < 3; i++)
            held.Add(await dataSource.OpenConnectionAsync());
        report = await health.CheckHealthAsync(r => r.Name == "brightdb");
        entry = report.Entries["brightdb"];
        Assert.Equal(HealthStatus.Degraded, entry.Status);
        Assert.StartsWith("down (", (string)entry.Data[nodes[1]], StringComparison.Ordinal);
        Assert.StartsWith("up;", (string)entry.Data[nodes[0]], StringComparison.Ordinal);
        Assert.Contains(nodes[1], entry.Description, StringComparison.Ordinal);
        foreach (var connection in held)
            await connection.DisposeAsync();

        // Every node gone: the check's own open fails.
        await _cluster.KillNodeAsync(1);
        await _cluster.KillNodeAsync(3);
        report = await health.CheckHealthAsync(r => r.Name == "brightdb");
        entry = report.Entries["brightdb"];
        Assert.Equal(HealthStatus.Unhealthy, entry.Status);
        Assert.Contains("No server of the cluster answered", entry.Description, StringComparison.Ordinal);
        Assert.DoesNotContain(_cluster.Password, entry.Description, StringComparison.Ordinal);
    }
}
