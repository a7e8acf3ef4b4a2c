using System.Diagnostics;
using Npgsql;

namespace BrightDb.LocalCluster.IntegrationTests;

/// <summary>Discovery fault injection: every node, every database, at once.</summary>
public sealed class YbServersBehaviorTests(TwoNodeFixture fixture) : IClassFixture<TwoNodeFixture>, IAsyncLifetime
{
    LocalCluster Cluster => fixture.Cluster;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await Cluster.SetYbServersBehaviorAsync(YbServersBehavior.Normal);
        await Cluster.SetYbServersOverrideAsync(null);
    }

    [Fact]
    public async Task Fail_raises_an_error_on_every_node()
    {
        await Cluster.SetYbServersBehaviorAsync(YbServersBehavior.Fail);
        foreach (var index in new[] { 1, 2 })
        {
            var error = await Assert.ThrowsAsync<PostgresException>(() => Cluster.QueryYbServersAsync(index));
            Assert.Equal("XX000", error.SqlState);
        }

        await Cluster.SetYbServersBehaviorAsync(YbServersBehavior.Normal);
        Assert.Equal(2, (await Cluster.QueryYbServersAsync(2)).Count);
    }

    [Fact]
    public async Task Missing_raises_undefined_function()
    {
        await Cluster.SetYbServersBehaviorAsync(YbServersBehavior.Missing);
        var error = await Assert.ThrowsAsync<PostgresException>(() => Cluster.QueryYbServersAsync(1));
        Assert.Equal(PostgresErrorCodes.UndefinedFunction, error.SqlState);
    }

    [Fact]
    public async Task Slow_delays_each_call_and_a_command_timeout_cancels_it()
    {
        await Cluster.SetYbServersBehaviorAsync(YbServersBehavior.Slow(TimeSpan.FromSeconds(1.5)));
        var watch = Stopwatch.StartNew();
        Assert.Equal(2, (await Cluster.QueryYbServersAsync(1)).Count);
        Assert.InRange(watch.Elapsed, TimeSpan.FromSeconds(1.4), TimeSpan.FromSeconds(30));

        // A sleep far longer than the command timeout: Npgsql's cancel request (sent when the timeout fires) must land while
        // the call still sleeps, however slowly a loaded machine delivers it; a shorter sleep can end first and the call
        // then returns its rows, as Npgsql intends.
        await Cluster.SetYbServersBehaviorAsync(YbServersBehavior.Slow(TimeSpan.FromSeconds(60)));
        await using var connection = Db.Connection(Cluster.ConnectionString(2));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("select * from yb_servers()", connection) { CommandTimeout = 1 };
        watch.Restart();
        var error = await Assert.ThrowsAnyAsync<NpgsqlException>(() => command.ExecuteNonQueryAsync());
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(50), $"the call was not cancelled: it took {watch.Elapsed}");
        // Npgsql reports its own timeout; when the server-side cancel wins the race it is the 57014 cancellation.
        Assert.True(error.InnerException is TimeoutException || error is PostgresException { SqlState: PostgresErrorCodes.QueryCanceled },
            $"unexpected {error}");
    }

    [Fact]
    public async Task Override_returns_raw_rows_with_nulls_empty_strings_and_bad_ports_then_null_restores()
    {
        YbServersRow[] rows =
        [
            new(null, null, null, null, null, null, null, null, null, null),
            new("", 0, -1, "", "", "", "", "", "", ""),
            new("127.0.0.250", 70000, 5, "bogus", "c", "r", "z", "10.0.0.1", "u", "uu"),
        ];
        await Cluster.SetYbServersOverrideAsync(rows);
        Assert.Equal(rows, await Cluster.QueryYbServersAsync(2));

        var many = Enumerable.Range(0, 2000)
            .Select(i => new YbServersRow($"10.1.{i / 250}.{i % 250}", 2521, 0, "primary", "aws", "us-west", $"zone-{i}", null, $"{i:x32}", "u"))
            .ToList();
        await Cluster.SetYbServersOverrideAsync(many);
        Assert.Equal(2000, await Db.ScalarAsync<long>(Cluster.ConnectionString(1), "select count(*) from yb_servers()"));
        Assert.Equal(many, await Cluster.QueryYbServersAsync(1));

        await Cluster.SetYbServersOverrideAsync(null);
        Assert.Equal(Db.Hosts(Cluster, 1, 2), await Db.YbServerHostsAsync(Cluster, 1));
    }

    [Fact]
    public async Task Every_database_has_the_function_including_ones_created_later()
    {
        var admin = Cluster.AdminConnectionString(1);
        await using (var connection = Db.Connection(admin))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand("drop database if exists created_later; create database created_later owner bigmath", connection);
            await command.ExecuteNonQueryAsync();
        }

        foreach (var database in new[] { "postgres", "created_later" })
        {
            var connectionString = new NpgsqlConnectionStringBuilder(Cluster.ConnectionString(1)) { Database = database }.ConnectionString;
            Assert.Equal(2L, await Db.ScalarAsync<long>(connectionString, "select count(*) from yb_servers()"));
        }
    }
}
