using BrightDb.LocalCluster;
using Microsoft.Extensions.Logging;
using Npgsql;
using Xunit.Abstractions;

namespace BrightDb.Npgsql.IntegrationTests;

/// <summary>
/// Malformed <c>yb_servers()</c> rows are skipped with one warning: no crash, and connections go to the valid servers
/// only. The unusable rows point at an address where nothing listens, so trying one would show as a failover.
/// </summary>
public sealed class BadYbServersRowsTests(ITestOutputHelper output) : IAsyncLifetime
{
    LocalCluster.LocalCluster _cluster = null!;

    public async Task InitializeAsync() =>
        _cluster = await LocalCluster.LocalCluster.StartAsync("aws.us-west.us-west-2a", "aws.us-west.us-west-2b", "aws.us-west.us-west-2c");

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    // Hedging is for hung servers: at its 2 s default a loaded test machine can trip it on a healthy server and skew the
    // counts asserted here, so it waits longer (a crashed server refuses at once and is not concerned).
    string ConnectionString(string app) =>
        $"Host={_cluster.Node(1).Host};Port={_cluster.Node(1).Port};Database=bigmath;Username=bigmath;Password={_cluster.Password};" +
        $"Load Balance Hosts=true;Pooling=false;Application Name={app};Failed Host Reconnect Delay Secs=1;Hedged Open Delay=10000";

    /// <summary>A loopback address of the cluster's block where no node listens.</summary>
    string Nowhere(int i) => $"127.0.{_cluster.AddressBlock}.{200 + i}";

    YbServersRow Junk(string? host, long? port = 2521, string? nodeType = "primary", string? zone = "us-west-2x") =>
        new(host, port, 0, nodeType, "aws", "us-west", zone, host, Guid.NewGuid().ToString("N"), _cluster.UniverseUuid);

    async Task AssertBalancedOverTheRealNodesOnlyAsync(string app, LogRecorder logs, IReadOnlyList<YbServersRow> rows, int badRows)
    {
        await _cluster.SetYbServersOverrideAsync(rows);
        var held = new List<NpgsqlConnection>();
        try
        {
            await using var ds = new BrightDbDataSourceBuilder(ConnectionString(app)).UseLoggerFactory(logs).Build();
            var markedDown = new List<string>();
            ds.HostMarkedDown += (_, e) => { lock (markedDown) markedDown.Add(e.Host); };

            for (var i = 0; i < 9; i++)
                held.Add(await ds.OpenConnectionAsync());

            var topology = ds.Topology!;
            Assert.True(topology.FromYbServers);
            Assert.Equal(_cluster.Nodes.Select(n => n.Host).Order(), topology.Servers.Select(s => s.Host).Order());
            Assert.Equal(_cluster.Nodes.Select(n => n.Host).Order(), ds.GetHostToConnectionMap().Keys.Order());
            foreach (var node in _cluster.Nodes)
            {
                Assert.Equal(3, ClusterWaits.MapCount(ds, node.Host));
                await ClusterWaits.ServerCountBecomesAsync(_cluster, app, node, 3);
            }

            lock (markedDown)
                Assert.Empty(markedDown);
            Assert.Empty(logs.WithId(3003));

            var warning = Assert.Single(logs.WithId(1004));
            Assert.Equal(LogLevel.Warning, warning.Level);
            Assert.Equal(badRows.ToString(System.Globalization.CultureInfo.InvariantCulture), warning.Values.GetValueOrDefault("Count"));

            // A refresh over the same rows finds the same servers.
            var again = await ds.RefreshTopologyAsync();
            Assert.True(topology.SameServersAs(again));
        }
        finally
        {
            foreach (var c in held)
                await c.DisposeAsync();
            await _cluster.SetYbServersOverrideAsync(null);
        }
    }

    [Fact]
    public async Task Bad_rows_are_skipped_with_a_warning_and_opens_balance_over_the_valid_servers()
    {
        var (n1, n2, n3) = (_cluster.Node(1), _cluster.Node(2), _cluster.Node(3));
        YbServersRow[] rows =
        [
            Junk(null),
            Junk(""),
            Junk("   "),
            Junk(Nowhere(0), nodeType: "tserver"),
            Junk(Nowhere(1), nodeType: null),
            Junk(Nowhere(2), port: 0),
            Junk(Nowhere(3), port: 70000),
            Junk(Nowhere(4), port: null),
            Junk(new string('h', 300)),
            // Valid servers: no public_ip, no placement at all, and a complete row.
            ClusterWaits.RowOf(_cluster, n1) with { PublicIp = null },
            ClusterWaits.RowOf(_cluster, n2) with { Cloud = null, Region = null, Zone = null },
            ClusterWaits.RowOf(_cluster, n3),
            // The same server again, placed elsewhere.
            ClusterWaits.RowOf(_cluster, n3) with { Zone = "us-west-2z", Uuid = Guid.NewGuid().ToString("N") },
        ];
        var logs = new LogRecorder(output);
        await AssertBalancedOverTheRealNodesOnlyAsync("badrows-mixed", logs, rows, badRows: 10);

        Assert.Contains("duplicate", logs.WithId(1004)[0].Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Three_thousand_junk_rows_before_the_real_ones_are_skipped_and_the_real_servers_used()
    {
        var junk = Enumerable.Range(0, 3000).Select(i => (i % 3) switch
        {
            0 => Junk(null),
            1 => Junk(Nowhere(i % 50), port: 0),
            _ => Junk(Nowhere(i % 50), nodeType: "unknown"),
        });
        YbServersRow[] rows = [.. junk, .. _cluster.Nodes.Select(n => ClusterWaits.RowOf(_cluster, n))];
        await AssertBalancedOverTheRealNodesOnlyAsync("badrows-3000", new LogRecorder(output), rows, badRows: 3000);
    }
}
