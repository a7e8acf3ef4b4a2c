using System.Net.Http.Json;
using BrightDb.Samples.AspNetCore;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;

namespace BrightDb.Npgsql.Ecosystem.Tests;

/// <summary>
/// The ASP.NET Core sample (<c>samples/BrightDb.Samples.AspNetCore</c>), started in process on the tutorial's cluster with
/// its connection string from configuration: 30 requests holding connections at once show 10/10/10 on <c>/hosts</c>, and
/// every other endpoint answers from a server of the cluster (the data source, the read and write views through Dapper,
/// EF Core).
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class AspNetCoreSampleTests(SeedClusterFixture fixture)
{
    const string App = "sample-app";

    [Fact]
    public async Task Thirty_held_requests_show_10_10_10_on_hosts_and_every_endpoint_answers()
    {
        await using var factory = new WebApplicationFactory<Program>()
            .WithWebHostBuilder(web => web.UseSetting("ConnectionStrings:cluster", fixture.ConnectionString(App)));
        using var client = factory.CreateClient();
        var nodes = fixture.Cluster.Nodes.Select(n => n.Host).ToList();
        // Telemetry is on (console exporters): the sample registered a tracer and a meter provider.
        Assert.NotNull(factory.Services.GetService(typeof(OpenTelemetry.Trace.TracerProvider)));
        Assert.NotNull(factory.Services.GetService(typeof(OpenTelemetry.Metrics.MeterProvider)));

        // 30 slow requests at once, each holding a balanced connection until the counts were read.
        var holds = Enumerable.Range(0, 30).Select(_ => client.GetFromJsonAsync<ServerName>("/hold?milliseconds=6000")).ToList();
        Dictionary<string, int>? hosts = null;
        Assert.True(await Ecosystem.EventuallyAsync(async () =>
        {
            hosts = await client.GetFromJsonAsync<Dictionary<string, int>>("/hosts");
            return hosts!.Values.Sum() == 30;
        }, TimeSpan.FromSeconds(5)), $"the 30 requests did not all hold a connection within 5 s: /hosts said {Show(hosts)}");
        Assert.Equal([10, 10, 10], nodes.Select(n => hosts!.GetValueOrDefault(n)));
        var servers = await Ecosystem.ServerCountsAsync(fixture.Cluster, App);
        Assert.Equal([10, 10, 10], servers);
        var served = await Task.WhenAll(holds);
        Assert.All(nodes, n => Assert.Equal(10, served.Count(s => s!.Server == n)));

        var now = await client.GetFromJsonAsync<ServerTime>("/now");
        Assert.Contains(now!.Server, nodes);
        var topology = await client.GetFromJsonAsync<List<ServerView>>("/topology");
        Assert.Equal(nodes.Order(), topology!.Select(s => s.ConnectHost).Order());
        // The tutorial's cluster has primaries only: both views fall back to them.
        foreach (var path in new[] { "/reads/server", "/writes/server" })
        {
            var role = await client.GetFromJsonAsync<ServerRole>(path);
            Assert.Contains(role!.Server, nodes);
            Assert.False(role.InRecovery);
        }

        var ef = await client.GetFromJsonAsync<ServerName>("/ef/server");
        Assert.Contains(ef!.Server, nodes);
        Assert.Equal("Healthy", await client.GetStringAsync("/health"));
    }

    static string Show(Dictionary<string, int>? hosts) =>
        hosts is null ? "nothing" : string.Join(", ", hosts.Select(h => $"{h.Key}={h.Value}"));
}
