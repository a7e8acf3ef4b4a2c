using BrightDb.Npgsql.IntegrationTests.Support;
using Npgsql;
using Xunit.Abstractions;
using Cluster = BrightDb.LocalCluster.LocalCluster;

namespace BrightDb.Npgsql.IntegrationTests;

/// <summary>
/// A server that dies while the application uses connections on it: those connections fail on their next command (no
/// driver can save a connection whose server is gone), every other connection goes on, the counts come back to exactly
/// what the servers hold, and new opens fail over at once.
/// </summary>
public sealed class MidUseFailureTests(ThreeZonesClusterFixture fixture, ITestOutputHelper output) : IClassFixture<ThreeZonesClusterFixture>
{
    Cluster Cluster => fixture.Cluster;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_node_killed_under_20_connections_in_use_fails_those_only_and_30_new_opens_succeed(bool pooling)
    {
        var app = $"mid-use-{EveryPath.Mode(pooling)}";
        await using var ds = Counts.Create(EveryPath.ConnectionString(Cluster, app, pooling));
        await using var held = new ConnectionSet();
        await EveryPath.OpenHeldAsync(ds, 60, held);
        Counts.AssertMap("20/20/20", ds, Cluster);

        var killed = Cluster.Nodes[1];
        await Cluster.KillNodeAsync(killed.Index);
        try
        {
            var onKilled = held.Where(c => c.Host == killed.Host).ToList();
            var failedOnKilled = 0;
            var failedElsewhere = new List<string>();
            foreach (var connection in held)
            {
                // Where the connection is, read before the command: a broken connection no longer says.
                var host = connection.Host;
                try
                {
                    await EveryPath.SelectOneAsync(connection);
                }
                catch (Exception e) when (e is NpgsqlException or InvalidOperationException)
                {
                    if (host == killed.Host)
                        failedOnKilled++;
                    else
                        failedElsewhere.Add($"{host}: {e.Message}");
                }
            }

            // The broken connections are closed by the application, as it would after an error.
            foreach (var connection in onKilled)
                await connection.DisposeAsync();
            held.RemoveAll(onKilled.Contains);

            var (mapAfter, serversAfter) = await EveryPath.MapAndServersEventuallyAsync(ds, Cluster, app);

            await using var fresh = new ConnectionSet();
            var openFailures = new List<string>();
            for (var i = 0; i < 30; i++)
            {
                try
                {
                    var connection = await ds.OpenConnectionAsync();
                    fresh.Add(connection);
                    await EveryPath.SelectOneAsync(connection);
                }
                catch (Exception e)
                {
                    openFailures.Add(EveryPath.Describe(i, e));
                }
            }

            var (mapEnd, serversEnd) = await EveryPath.MapAndServersEventuallyAsync(ds, Cluster, app);
            output.WriteLine($"{EveryPath.Mode(pooling)}: {failedOnKilled} of {onKilled.Count} failed on the killed node, " +
                             $"{failedElsewhere.Count} elsewhere; after: map {mapAfter}, servers {serversAfter}; 30 new opens: " +
                             $"{openFailures.Count} failed; end: map {mapEnd}, servers {serversEnd}");

            var verdict = new Verdict();
            verdict.Check(onKilled.Count == 20, $"connections on the killed node before the kill: {onKilled.Count}, expected 20");
            verdict.Check(failedOnKilled == onKilled.Count, $"{failedOnKilled} of the {onKilled.Count} connections on the killed node failed their next command");
            verdict.Check(failedElsewhere.Count == 0, $"connections on the other nodes failed: {string.Join("; ", failedElsewhere.Take(5))}");
            verdict.Equal("20/0/20", mapAfter, "driver map after the kill");
            verdict.Equal(serversAfter, mapAfter, "driver map against the servers' counts after the kill");
            verdict.NoFailures(openFailures, 30);
            verdict.Equal("0", mapEnd.Split('/')[1], "driver map on the killed node at the end");
            verdict.Equal(serversEnd, mapEnd, "driver map against the servers' counts at the end");
            verdict.Assert(ds);
        }
        finally
        {
            await EveryPath.RestoreAsync(Cluster);
        }
    }
}
