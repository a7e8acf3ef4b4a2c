using Npgsql;

namespace BrightDb.LocalCluster.IntegrationTests;

/// <summary>A cluster per test class: started before the class's first test, destroyed after its last.</summary>
public abstract class ClusterFixture : IAsyncLifetime
{
    LocalCluster? _cluster;

    public LocalCluster Cluster => _cluster ?? throw new InvalidOperationException("The cluster is not started.");

    protected abstract LocalClusterOptions Options { get; }

    public async Task InitializeAsync() => _cluster = await LocalCluster.StartAsync(Options);

    public async Task DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }
}

/// <summary>The tutorial's cluster: three primaries, two in us-west-2a and one in us-west-2b.</summary>
public sealed class ThreeNodeFixture : ClusterFixture
{
    protected override LocalClusterOptions Options => new()
    {
        Nodes = [.. Db.SeedPlacements.Select(p => new NodeSpec(Placement.Parse(p)))],
    };
}

/// <summary>Helpers shared by the tests.</summary>
static class Db
{
    public static readonly string[] SeedPlacements = ["aws.us-west.us-west-2a", "aws.us-west.us-west-2a", "aws.us-west.us-west-2b"];

    /// <summary>Unpooled, so a test never gets a connection that outlived a node restart.</summary>
    public static NpgsqlConnection Connection(string connectionString, int timeoutSeconds = 15, string? applicationName = null) =>
        new(new NpgsqlConnectionStringBuilder(connectionString)
        {
            Pooling = false,
            Timeout = timeoutSeconds,
            ApplicationName = applicationName,
        }.ConnectionString);

    public static async Task<T> ScalarAsync<T>(string connectionString, string sql)
    {
        await using var connection = Connection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>The hosts yb_servers() lists on a node, asked as the non-superuser bigmath through Npgsql.</summary>
    public static async Task<List<string>> YbServerHostsAsync(LocalCluster cluster, int nodeIndex)
    {
        await using var connection = Connection(cluster.ConnectionString(nodeIndex));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("select host from yb_servers() order by host", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var hosts = new List<string>();
        while (await reader.ReadAsync())
        {
            hosts.Add(reader.GetString(0));
        }

        return hosts;
    }

    public static string[] Hosts(LocalCluster cluster, params int[] indexes) =>
        [.. indexes.Select(i => cluster.Node(i).Host).Order(StringComparer.Ordinal)];
}
