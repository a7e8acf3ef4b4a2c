using Npgsql;

namespace BrightDb.LocalCluster.IntegrationTests;

/// <summary>
/// <see cref="LocalClusterOptions.ReportConnections"/>: <c>yb_servers()</c> reports each node's true number of client
/// connections in <c>num_connections</c>, counted at the call, leaving out drivers' own connections (the asking one included) and the cluster's own;
/// behind the fault proxy too, and a node that cannot be asked reports NULL (unknown) without failing the call.
/// </summary>
public sealed class ReportConnectionsTests : IAsyncLifetime
{
    LocalCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await LocalCluster.StartAsync(new LocalClusterOptions
    {
        Nodes = [.. Db.SeedPlacements.Select(p => new NodeSpec(Placement.Parse(p)))],
        ReportConnections = true,
        FaultProxy = true,
    });

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    async Task<long?[]> ReportedAsync(int askedNode)
    {
        var rows = await _cluster.QueryYbServersAsync(askedNode);
        return [.. _cluster.Nodes.Select(n => rows.SingleOrDefault(r => r.Uuid == n.Uuid)?.NumConnections)];
    }

    [Fact]
    public async Task Num_connections_is_each_nodes_count_of_client_connections()
    {
        var open = new List<NpgsqlConnection>();
        try
        {
            foreach (var (node, count) in new[] { (1, 3), (3, 2) })
            {
                for (var i = 0; i < count; i++)
                {
                    var connection = Db.Connection(_cluster.ConnectionString(node), applicationName: "reported");
                    await connection.OpenAsync();
                    open.Add(connection);
                }
            }

            // Neither the asking connection (in the middle of yb_servers()) nor the cluster's own (its counting, its admin) are counted,
            // nor a BrightDB driver's own connection.
            var control = Db.Connection(_cluster.ConnectionString(2), applicationName: "app (BrightDB control)");
            await control.OpenAsync();
            open.Add(control);
            var admin = Db.Connection(_cluster.AdminConnectionString(3));
            await admin.OpenAsync();
            open.Add(admin);
            Assert.Equal(new long?[] { 3, 0, 2 }, await ReportedAsync(2));
            Assert.Equal(new long?[] { 3, 0, 2 }, await ReportedAsync(1));

            await open[0].DisposeAsync();
            await WaitForAsync(() => ReportedAsync(2), [ 2, 0, 2 ]);

            // A node that does not answer (its server paused) reports NULL, unknown, after the 2 s connect timeout; the others are still counted.
            await _cluster.PauseNodeAsync(3);
            try
            {
                Assert.Equal(new long?[] { 2, 0, null }, await ReportedAsync(2));
            }
            finally
            {
                await _cluster.ResumeNodeAsync(3);
            }
        }
        finally
        {
            foreach (var connection in open)
                await connection.DisposeAsync();
        }

        await WaitForAsync(() => ReportedAsync(2), [ 0, 0, 0 ]);
    }

    [Fact]
    public async Task Without_the_option_every_row_reports_0()
    {
        await using var plain = await LocalCluster.StartAsync(new LocalClusterOptions
        {
            Nodes = [.. Db.SeedPlacements.Select(p => new NodeSpec(Placement.Parse(p)))],
        });
        await using var connection = Db.Connection(plain.ConnectionString(1), applicationName: "not-reported");
        await connection.OpenAsync();
        Assert.All(await plain.QueryYbServersAsync(2), row => Assert.Equal(0L, row.NumConnections));
    }

    /// <summary>A backend ends a moment after its client closes: the counts are read until they match, for a few seconds.</summary>
    static async Task WaitForAsync(Func<Task<long?[]>> read, long?[] expected)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        long?[] last;
        while (!(last = await read()).SequenceEqual(expected) && DateTime.UtcNow < deadline)
            await Task.Delay(50);
        Assert.Equal(expected, last);
    }
}
