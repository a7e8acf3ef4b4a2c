using BrightDb.LocalCluster;
using Microsoft.Extensions.Time.Testing;

namespace BrightDb.Npgsql.IntegrationTests;

/// <summary>
/// The topology is refreshed by a timer of the data source's own clock, without any open: a fake clock moved past the
/// refresh interval makes the data source learn a server that joined, and a disposed data source refreshes no more.
/// </summary>
public sealed class RefreshTimerTests : IAsyncLifetime
{
    LocalCluster.LocalCluster _cluster = null!;

    public async Task InitializeAsync() =>
        _cluster = await LocalCluster.LocalCluster.StartAsync("aws.us-west.us-west-2a", "aws.us-west.us-west-2b");

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task The_data_source_s_timer_refreshes_without_opens_and_stops_on_dispose()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var first = _cluster.Nodes[0];
        var ds = new BrightDbDataSourceBuilder(
                $"Host={first.Host};Port={first.Port};Database=bigmath;Username=bigmath;Password={_cluster.Password};" +
                "Load Balance Hosts=true;Pooling=false;Application Name=refresh-timer;YB Servers Refresh Interval=300")
            .UseTimeProvider(time)
            .Build();
        var refreshed = 0;
        ds.TopologyChanged += (_, _) => Interlocked.Increment(ref refreshed);
        await using (var connection = await ds.OpenConnectionAsync())
            Assert.Equal(2, ds.Topology!.Servers.Count);
        Assert.Equal(1, Volatile.Read(ref refreshed));

        var joined = await _cluster.AddNodeAsync(new NodeSpec(Placement.Parse("aws.us-west.us-west-2c")));
        // Not yet due: nothing reads yb_servers() before the interval.
        time.Advance(TimeSpan.FromSeconds(299));
        Assert.Equal(2, ds.Topology!.Servers.Count);

        time.Advance(TimeSpan.FromSeconds(1));
        await ClusterWaits.UntilAsync(() => Task.FromResult(ds.Topology!.Servers.Count == 3), "the timer's refresh to find the node that joined");
        Assert.Contains(ds.Topology!.Servers, s => s.Host == joined.Host);
        Assert.Equal(2, Volatile.Read(ref refreshed));

        await ds.DisposeAsync();
        await _cluster.RemoveNodeAsync(joined.Index);
        time.Advance(TimeSpan.FromSeconds(600));
        // A live timer would have started a refresh inside Advance and found the node gone; give such a refresh time to end
        // (this wait is the subject: nothing may happen within it).
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.Equal(2, Volatile.Read(ref refreshed));
    }
}
