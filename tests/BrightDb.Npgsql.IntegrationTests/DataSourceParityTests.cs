using BrightDb.LocalCluster;
using BrightDb.Npgsql.IntegrationTests.Support;
using Npgsql;

namespace BrightDb.Npgsql.IntegrationTests;

/// <summary>
/// What an Npgsql data source and its builder offer, across every server of the cluster: <see cref="BrightDbDataSource.Clear"/>,
/// <see cref="BrightDbDataSource.ReloadTypesAsync"/>, the <see cref="BrightDbDataSource.Password"/> setter, one periodic
/// password provider.
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

    public enum Mood
    {
        Sad,
        Ok,
        Happy,
    }

    /// <summary>
    /// A type created after the data source loaded the types (a migration) is usable on every server once
    /// <see cref="BrightDbDataSource.ReloadTypesAsync"/> ran; a connection in use meanwhile keeps working and is counted
    /// until it is returned.
    /// </summary>
    [Fact]
    public async Task ReloadTypes_makes_a_type_created_later_usable_on_every_server()
    {
        const string app = "parity-reload";
        var type = $"parity_mood_{Guid.NewGuid():N}";
        var builder = new BrightDbDataSourceBuilder(
            $"Host={_cluster.Node(1).Host};Port={_cluster.Node(1).Port};Database=bigmath;Username=bigmath;Password={Secret};" +
            $"Load Balance Hosts=true;Application Name={app};Hedged Open Delay=10000");
        builder.MapEnum<Mood>(type);
        await using var ds = builder.Build();

        var first = await OpenAndQueryAsync(ds, 3);
        var inUse = first[0];
        var inUseHost = inUse.Host;
        await Counts.DisposeAllAsync(first.Skip(1));

        // The local cluster's nodes share no data: the type is made on each.
        foreach (var node in _cluster.Nodes)
        {
            await using var admin = new NpgsqlConnection(
                $"Host={node.Host};Port={node.Port};Database=bigmath;Username=bigmath;Password={Secret};Pooling=false");
            await admin.OpenAsync();
            await using var create = new NpgsqlCommand($"create type {type} as enum ('sad', 'ok', 'happy')", admin);
            await create.ExecuteNonQueryAsync();
        }

        // Before the reload, a connection of the pools does not know the type.
        await using (var stale = await ds.OpenConnectionAsync())
        {
            await using var command = new NpgsqlCommand($"select 'happy'::{type}", stale);
            await Assert.ThrowsAnyAsync<Exception>(async () =>
            {
                await using var reader = await command.ExecuteReaderAsync();
                await reader.ReadAsync();
                reader.GetFieldValue<Mood>(0);
            });
        }

        // An application's connection created before the reload and opened after it (an EF Core context living across a
        // migration): it comes from the replaced pools, still opens and runs.
        var createdBefore = ds.CreateConnection();
        await ds.ReloadTypesAsync();
        await using (createdBefore)
        {
            await createdBefore.OpenAsync();
            await using var command = new NpgsqlCommand("select 1", createdBefore);
            Assert.Equal(1, await command.ExecuteScalarAsync());
        }

        // The connection in use keeps its session and is still counted (in the pools it came from), by the map and the server.
        await using (var command = new NpgsqlCommand("select 1", inUse))
            Assert.Equal(1, await command.ExecuteScalarAsync());
        var expected = string.Join('/', _cluster.Nodes.Select(n => n.Host == inUseHost ? 1 : 0));
        Assert.Equal(expected, await Counts.ServerEventuallyAsync(_cluster, app, expected));
        Assert.Equal(expected, Counts.Map(ds, _cluster));
        await inUse.DisposeAsync();
        Assert.Equal("0/0/0", await Counts.ServerEventuallyAsync(_cluster, app, "0/0/0"));

        var held = new List<NpgsqlConnection>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                var connection = await ds.OpenConnectionAsync();
                held.Add(connection);
                await using var command = new NpgsqlCommand($"select 'happy'::{type}, @mood = 'ok'::{type}", connection);
                command.Parameters.AddWithValue("mood", Mood.Ok);
                await using var reader = await command.ExecuteReaderAsync();
                Assert.True(await reader.ReadAsync());
                Assert.Equal(Mood.Happy, reader.GetFieldValue<Mood>(0));
                Assert.True(reader.GetBoolean(1), "the enum parameter was not sent as the mapped type's label");
            }

            Assert.Equal(_cluster.Nodes.Select(n => n.Host).Order(), held.Select(c => c.Host!).Order());
            Assert.Equal("1/1/1", await Counts.ServerEventuallyAsync(_cluster, app, "1/1/1"));
            Assert.Equal("1/1/1", Counts.Map(ds, _cluster));

            // The path of EF Core, Dapper and DI after the reload: CreateConnection, then Open, knows the type too.
            await using var created = ds.CreateConnection();
            await created.OpenAsync();
            await using var read = new NpgsqlCommand($"select 'sad'::{type}", created);
            Assert.Equal(Mood.Sad, (Mood)(await read.ExecuteScalarAsync())!);
        }
        finally
        {
            await Counts.DisposeAllAsync(held);
        }
    }

    /// <summary>
    /// The password set on the data source logs in every new physical connection, on every server and for the discovery;
    /// idle connections keep serving after it changes.
    /// </summary>
    [Fact]
    public async Task A_password_set_on_the_data_source_reaches_every_server()
    {
        const string app = "parity-set-password";
        await using var ds = BrightDbDataSource.Create(
            $"Host={_cluster.Node(1).Host};Port={_cluster.Node(1).Port};Database=bigmath;Username=bigmath;Password=not-the-secret;" +
            $"Load Balance Hosts=true;Application Name={app};Hedged Open Delay=10000");
        var refused = await Assert.ThrowsAnyAsync<NpgsqlException>(async () => await ds.OpenConnectionAsync());
        Assert.DoesNotContain("not-the-secret", refused.ToString(), StringComparison.Ordinal);

        ds.Password = Secret;
        var held = await OpenAndQueryAsync(ds, 6);
        Assert.Equal("2/2/2", await Counts.ServerEventuallyAsync(_cluster, app, "2/2/2"));
        Assert.Equal("2/2/2", Counts.Map(ds, _cluster));
        await Counts.DisposeAllAsync(held);

        // A wrong password now: the six idle connections still serve; a seventh, a new physical connection, is refused.
        ds.Password = "wrong-again";
        held = await OpenAndQueryAsync(ds, 6);
        var error = await Assert.ThrowsAsync<PostgresException>(async () => await ds.OpenConnectionAsync());
        Assert.Equal(PostgresErrorCodes.InvalidPassword, error.SqlState);
        Assert.All(ds.GetServerStates(), s => Assert.False(s.IsMarkedDown, $"{s.Host} was marked down for the application's wrong password"));
        await Counts.DisposeAllAsync(held);
    }

    [Fact]
    public async Task A_password_set_on_a_data_source_that_does_not_balance_logs_in()
    {
        await using var ds = BrightDbDataSource.Create(
            $"Host={_cluster.Node(2).Host};Port={_cluster.Node(2).Port};Database=bigmath;Username=bigmath;Password=not-the-secret;" +
            "Load Balance Hosts=false;Application Name=parity-plain-password");
        await Assert.ThrowsAsync<PostgresException>(async () => await ds.OpenConnectionAsync());
        ds.Password = Secret;
        await using var connection = await ds.OpenConnectionAsync();
        await using var command = new NpgsqlCommand("select 1", connection);
        Assert.Equal(1, await command.ExecuteScalarAsync());
    }

    [Fact]
    public async Task The_password_cannot_be_set_when_a_provider_gives_it()
    {
        var builder = new BrightDbDataSourceBuilder($"Host={_cluster.Node(1).Host};Port={_cluster.Node(1).Port};Username=bigmath;Load Balance Hosts=true");
        builder.UsePasswordProvider(_ => Secret, (_, _) => ValueTask.FromResult(Secret));
        await using var ds = builder.Build();
        Assert.Throws<NotSupportedException>(() => ds.Password = Secret);
    }

    /// <summary>
    /// Typed commands and batches that open their own connection, as Npgsql's data source's: 30 readers at once spread
    /// over every server and are counted by the host map as the servers count them.
    /// </summary>
    [Fact]
    public async Task Commands_and_batches_of_the_data_source_open_connections_on_every_server()
    {
        const string app = "parity-commands";
        await using var ds = Create(app);
        var readers = new List<NpgsqlDataReader>();
        try
        {
            for (var i = 0; i < 30; i++)
            {
                NpgsqlCommand command = ds.CreateCommand("select inet_server_addr()::text");
                var reader = await command.ExecuteReaderAsync();
                readers.Add(reader);
                Assert.True(await reader.ReadAsync());
            }

            var servers = await Counts.ServerAsync(_cluster, app);
            var counts = servers.Split('/').Select(int.Parse).ToList();
            Assert.All(counts, count => Assert.True(count > 0, $"a server got none of 30 commands: {servers}"));
            Assert.Equal(30, counts.Sum());
            Assert.Equal(servers, Counts.Map(ds, _cluster));
        }
        finally
        {
            foreach (var reader in readers)
                await reader.DisposeAsync();
        }

        // Closing a reader returned its connection to the pools: 30 idle connections, still counted as the servers count them.
        Assert.Equal(30, (await Counts.ServerAsync(_cluster, app)).Split('/').Sum(int.Parse));

        await using var batch = ds.CreateBatch();
        batch.BatchCommands.Add(new NpgsqlBatchCommand("select 1"));
        batch.BatchCommands.Add(new NpgsqlBatchCommand("select 2"));
        await using var batchReader = await batch.ExecuteReaderAsync();
        Assert.True(await batchReader.ReadAsync());
        Assert.Equal(1, batchReader.GetInt32(0));
        Assert.True(await batchReader.NextResultAsync());
        Assert.True(await batchReader.ReadAsync());
        Assert.Equal(2, batchReader.GetInt32(0));
    }

    /// <summary>A node killed (still listed by <c>yb_servers()</c>): every command of the data source still runs.</summary>
    [Fact]
    public async Task Commands_of_the_data_source_fail_over_from_a_killed_node()
    {
        const string app = "parity-commands-killed";
        await using var ds = Create(app);
        await using (var warm = ds.CreateCommand("select 1"))
            Assert.Equal(1, await warm.ExecuteScalarAsync());
        await _cluster.KillNodeAsync(2);

        for (var i = 0; i < 12; i++)
        {
            await using var command = ds.CreateCommand("select inet_server_port()");
            Assert.NotNull(await command.ExecuteScalarAsync());
        }
    }
}
