using BrightDb.LocalCluster;
using BrightDb.Npgsql.IntegrationTests.Support;
using Npgsql;

namespace BrightDb.Npgsql.IntegrationTests;

/// <summary>
/// What an Npgsql data source and its builder offer, across every server of the cluster: <see cref="BrightDbDataSource.Clear"/>,
/// one periodic password provider.
/// </summary>
public sealed class DataSourceParityTests : IAsyncLifetime
{
    const string Secret = "first-secret";

    LocalCluster.LocalCluster _cluster = null!;

    public async Task InitializeAsync() =>
        _cluster = await LocalCluster.LocalCluster.StartAsync(new LocalClusterOptions
        {
            Nodes = [.. new[] { "aws.us-west.us-west-2a", "aws.us-west.us-west-2b", "aws.us-west.us-west-2c" }.Select(p => new NodeSpec(Placement.Parse(p)))],
            Password = Secret,
        });

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    BrightDbDataSource Create(string app, string extra = "") => BrightDbDataSource.Create(
        $"Host={_cluster.Node(1).Host};Port={_cluster.Node(1).Port};Database=bigmath;Username=bigmath;Password={Secret};" +
        $"Load Balance Hosts=true;Application Name={app};Failed Host Reconnect Delay Secs=1;Hedged Open Delay=10000;{extra}");

    static async Task<List<NpgsqlConnection>> OpenAndQueryAsync(BrightDbDataSource ds, int count)
    {
        var held = new List<NpgsqlConnection>();
        for (var i = 0; i < count; i++)
        {
            var connection = await ds.OpenConnectionAsync();
            held.Add(connection);
            await using var command = new NpgsqlCommand("select 1", connection);
            Assert.Equal(1, await command.ExecuteScalarAsync());
        }

        return held;
    }

    [Fact]
    public async Task Clear_closes_the_idle_connections_of_every_server()
    {
        const string app = "parity-clear";
        await using var ds = Create(app);
        await Counts.DisposeAllAsync(await OpenAndQueryAsync(ds, 30));
        Assert.Equal("10/10/10", await Counts.ServerEventuallyAsync(_cluster, app, "10/10/10"));

        ds.Clear();
        Assert.Equal("0/0/0", await Counts.ServerEventuallyAsync(_cluster, app, "0/0/0"));
        Assert.Equal("0/0/0", Counts.Map(ds, _cluster));

        var again = await OpenAndQueryAsync(ds, 6);
        Assert.Equal("2/2/2", await Counts.ServerEventuallyAsync(_cluster, app, "2/2/2"));
        await Counts.DisposeAllAsync(again);
    }

    /// <summary>
    /// One provider call serves every server's connections and the driver's own (the discovery): Npgsql's own option,
    /// configured on each server's data source, would have called it once per server and once per server asked.
    /// </summary>
    [Fact]
    public async Task One_periodic_password_provider_serves_every_server_and_the_discovery()
    {
        const string app = "parity-password";
        var calls = 0;
        string? passwordGiven = "not called";
        var builder = new BrightDbDataSourceBuilder(
            $"Host={_cluster.Node(1).Host};Port={_cluster.Node(1).Port};Database=bigmath;Username=bigmath;" +
            $"Load Balance Hosts=true;Application Name={app};Hedged Open Delay=10000");
        builder.UsePeriodicPasswordProvider(
            (settings, _) =>
            {
                Interlocked.Increment(ref calls);
                passwordGiven = settings.Password;
                return ValueTask.FromResult(Secret);
            },
            TimeSpan.FromMinutes(10), TimeSpan.FromSeconds(1));
        await using var ds = builder.Build();

        var held = await OpenAndQueryAsync(ds, 6);
        Assert.Equal("2/2/2", await Counts.ServerEventuallyAsync(_cluster, app, "2/2/2"));
        Assert.Equal(1, Volatile.Read(ref calls));
        Assert.Null(passwordGiven);
        await Counts.DisposeAllAsync(held);
    }
}
