using BrightDb.Npgsql.Diagnostics;
using Npgsql;

namespace BrightDb.Npgsql.Tests;

/// <summary>
/// The pooled host map reads Npgsql's pool sizes through its metrics, whose names changed between Npgsql 9 and 10:
/// this fails if the instrument or its pool-name tag is renamed again.
/// </summary>
public class NpgsqlPoolMetricsTests
{
    [Fact]
    public async Task Npgsql_publishes_the_pool_instrument_the_map_reads_tagged_with_the_pool_name()
    {
        var name = $"metrics-probe-{Guid.NewGuid():N}";
        // Building a pooled data source does no I/O; Npgsql reports its (empty) pool from then on.
        await using var dataSource = new NpgsqlDataSourceBuilder("Host=127.0.0.1;Port=2521;Username=u") { Name = name }.Build();

        Assert.True(NpgsqlPoolMetrics.InstrumentFound, $"Npgsql no longer publishes '{NpgsqlPoolMetrics.InstrumentName}'");
        var pools = NpgsqlPoolMetrics.ReadConnectionsByPool();
        Assert.True(pools.TryGetValue(name, out var count), $"no measurement tagged '{NpgsqlPoolMetrics.PoolNameTag}' = '{name}'");
        Assert.Equal(0, count);
    }
}
