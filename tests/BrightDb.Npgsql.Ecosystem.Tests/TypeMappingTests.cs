using NodaTime;
using Npgsql;

namespace BrightDb.Npgsql.Ecosystem.Tests;

/// <summary>
/// The builder is an <c>INpgsqlTypeMapper</c>, as Npgsql's is: an enum mapping and a plugin (NodaTime) are called on it
/// directly and hold on the connections to every server.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class TypeMappingTests(SeedClusterFixture fixture)
{
    public enum Mood
    {
        Sad,
        Ok,
        Happy,
    }

    [Fact]
    public async Task An_enum_mapping_and_NodaTime_on_the_builder_hold_on_every_server()
    {
        var type = $"eco_mood_{Guid.NewGuid():N}";
        // The local cluster's nodes share no data: the type is made on each.
        foreach (var node in fixture.Cluster.Nodes)
        {
            await using var admin = new NpgsqlConnection(
                $"Host={node.Host};Port={node.Port};Database=bigmath;Username=bigmath;Password={fixture.Cluster.Password};Pooling=false");
            await admin.OpenAsync();
            await using var create = new NpgsqlCommand($"create type {type} as enum ('sad', 'ok', 'happy')", admin);
            await create.ExecuteNonQueryAsync();
        }

        var builder = new BrightDbDataSourceBuilder(Ecosystem.ConnectionString(fixture.Cluster, "eco-types"));
        builder.MapEnum<Mood>(type);
        builder.UseNodaTime();
        await using var dataSource = builder.Build();

        var instant = Instant.FromUtc(2026, 12, 3, 10, 0);
        var held = new List<NpgsqlConnection>();
        try
        {
            for (var i = 0; i < fixture.Cluster.Nodes.Count; i++)
            {
                var connection = await dataSource.OpenConnectionAsync();
                held.Add(connection);
                await using var command = new NpgsqlCommand(
                    $"select 'happy'::{type}, @mood = 'ok'::{type}, '2026-12-03 10:00:00+00'::timestamptz, @instant = '2026-12-03 10:00:00+00'::timestamptz, date '2026-12-03'",
                    connection);
                command.Parameters.AddWithValue("mood", Mood.Ok);
                command.Parameters.AddWithValue("instant", instant);
                await using var reader = await command.ExecuteReaderAsync();
                Assert.True(await reader.ReadAsync());
                Assert.Equal(Mood.Happy, reader.GetFieldValue<Mood>(0));
                Assert.True(reader.GetBoolean(1), "the enum parameter was not sent as the mapped type's label");
                Assert.Equal(instant, reader.GetFieldValue<Instant>(2));
                Assert.True(reader.GetBoolean(3), "the NodaTime parameter was not sent as the same instant");
                Assert.Equal(new LocalDate(2026, 12, 3), reader.GetFieldValue<LocalDate>(4));
            }

            // One connection on each server: the mappings reached every server's data source.
            Assert.Equal(fixture.Cluster.Nodes.Select(n => n.Host).Order(), held.Select(c => c.Host!).Order());
        }
        finally
        {
            foreach (var connection in held)
                await connection.DisposeAsync();
        }
    }

    [Fact]
    public void Unmapping_answers_whether_a_mapping_was_removed_as_Npgsqls_builder_does()
    {
        var builder = new BrightDbDataSourceBuilder("Host=127.0.0.1;Load Balance Hosts=true");
        builder.MapEnum<Mood>("mood");
        Assert.True(builder.UnmapEnum<Mood>("mood"));
        Assert.False(builder.UnmapEnum<Mood>("mood"));
    }
}
