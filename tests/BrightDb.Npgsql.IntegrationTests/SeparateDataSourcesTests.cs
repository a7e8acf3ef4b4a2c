using BrightDb.Npgsql.IntegrationTests.Support;
using Npgsql;
using Cluster = BrightDb.LocalCluster.LocalCluster;

namespace BrightDb.Npgsql.IntegrationTests;

/// <summary>Data sources never share state: two clusters in one process, and two users or applications on one cluster.</summary>
public sealed class SeparateDataSourcesTests(TwoClustersFixture fixture) : IClassFixture<TwoClustersFixture>
{
    readonly Cluster _a = fixture.A;
    readonly Cluster _b = fixture.B;

    static string ConnectionString(Cluster cluster, string app, string extra = "") =>
        $"Host={cluster.Nodes[0].Host};Port={cluster.Nodes[0].Port};Database=bigmath;Username=bigmath;Password=bigmath;"
        + $"Load Balance Hosts=true;Application Name={app};{Counts.NoHedging};{extra}";

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Two_clusters_in_one_process_keep_separate_maps(bool pooled)
    {
        // The same application name on both: a connection landing on the wrong cluster would show in that cluster's counts.
        var app = $"two-clusters-{(pooled ? "on" : "off")}";
        await using var onA = Counts.Create(ConnectionString(_a, app, $"Pooling={pooled}"));
        await using var onB = Counts.Create(ConnectionString(_b, app, $"Pooling={pooled}"));
        await using var connections = new ConnectionSet();
        for (var i = 0; i < 30; i++)
        {
            connections.Add(await onA.OpenConnectionAsync());
            connections.Add(await onB.OpenConnectionAsync());
        }

        Counts.AssertMap("10/10/10", onA, _a);
        Counts.AssertMap("15/15", onB, _b);
        Assert.Equal("10/10/10", await Counts.ServerEventuallyAsync(_a, app, "10/10/10"));
        Assert.Equal("15/15", await Counts.ServerEventuallyAsync(_b, app, "15/15"));
        Assert.Equal(_a.Nodes.Select(n => n.Host).Order(), onA.Topology!.Servers.Select(s => s.Host).Order());
        Assert.Equal(_b.Nodes.Select(n => n.Host).Order(), onB.Topology!.Servers.Select(s => s.Host).Order());

        // Closing B's connections changes nothing on A.
        await Counts.DisposeAllAsync(connections.Where(c => _b.Nodes.Any(n => n.Host == c.Host)));
        Counts.AssertMap("10/10/10", onA, _a);
        Counts.AssertMap(pooled ? "15/15" : "0/0", onB, _b);
        Assert.Equal("10/10/10", await Counts.ServerAsync(_a, app));
        await Counts.DisposeAllAsync(connections);
    }

    [Fact]
    public async Task A_second_data_source_for_another_user_and_database_on_the_same_cluster_keeps_its_own_counts()
    {
        var app = "two-users";
        await using var asBigmath = Counts.Create(ConnectionString(_a, app, "Pooling=false"));
        // The cluster's other login: its superuser, in database postgres.
        var admin = new NpgsqlConnectionStringBuilder(_a.AdminConnectionString(1));
        await using var asAdmin = Counts.Create(
            $"Host={_a.Nodes[0].Host};Port={_a.Nodes[0].Port};Database=postgres;Username={admin.Username};Password={admin.Password};"
            + $"Load Balance Hosts=true;Application Name={app};Pooling=false;{Counts.NoHedging}");

        await using var connections = new ConnectionSet();
        for (var i = 0; i < 30; i++)
        {
            connections.Add(await asBigmath.OpenConnectionAsync());
            if (i < 12)
                connections.Add(asAdmin.OpenConnection());
        }

        Counts.AssertMap("10/10/10", asBigmath, _a);
        Counts.AssertMap("4/4/4", asAdmin, _a);
        Assert.Equal("10/10/10", await Counts.ServerEventuallyAsync(_a, app, "10/10/10"));
        Assert.Equal("10/10/10", await Counts.ServerByUserAsync(_a, app, "bigmath", "bigmath"));
        Assert.Equal("4/4/4", await Counts.ServerByUserAsync(_a, app, admin.Username!, "postgres"));

        // Each session runs as its own data source's user, in its database.
        foreach (var connection in connections)
        {
            await using var command = new NpgsqlCommand("select current_user || '@' || current_database()", connection);
            var who = (string)(await command.ExecuteScalarAsync())!;
            Assert.Contains(who, new[] { "bigmath@bigmath", $"{admin.Username}@postgres" });
        }

        Assert.Equal(30, connections.Count(c => c.UserName == "bigmath"));
        await Counts.DisposeAllAsync(connections);
        Counts.AssertMap("0/0/0", asBigmath, _a);
        Counts.AssertMap("0/0/0", asAdmin, _a);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_second_data_source_with_another_application_name_keeps_its_own_counts(bool pooled)
    {
        var first = $"app-one-{pooled}";
        var second = $"app-two-{pooled}";
        await using var one = Counts.Create(ConnectionString(_a, first, $"Pooling={pooled}"));
        await using var two = Counts.Create(ConnectionString(_a, second, $"Pooling={pooled}"));

        await using var connections = new ConnectionSet();
        for (var i = 0; i < 30; i++)
            connections.Add(await one.OpenConnectionAsync());
        for (var i = 0; i < 6; i++)
            connections.Add(await two.OpenConnectionAsync());

        // Two's first connections go to its own least-loaded servers, not around one's 30.
        Counts.AssertMap("10/10/10", one, _a);
        Counts.AssertMap("2/2/2", two, _a);
        Assert.Equal("10/10/10", await Counts.ServerEventuallyAsync(_a, first, "10/10/10"));
        Assert.Equal("2/2/2", await Counts.ServerEventuallyAsync(_a, second, "2/2/2"));
        await Counts.DisposeAllAsync(connections);
    }
}
