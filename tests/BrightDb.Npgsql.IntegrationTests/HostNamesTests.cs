using BrightDb.LocalCluster;
using BrightDb.Npgsql.IntegrationTests.Support;
using Npgsql;
using Xunit.Abstractions;

namespace BrightDb.Npgsql.IntegrationTests;

/// <summary>
/// A cluster that reports host names in <c>yb_servers()</c> (the local cluster's <see cref="LocalClusterOptions.HostNames"/>,
/// names in <c>/etc/hosts</c>): the driver connects by name, and its map is keyed by the names; the listed host may be an
/// address or a name. 30 connections, half through <c>OpenConnectionAsync</c> and half through
/// <c>CreateConnection().OpenAsync()</c>, go 10/10/10, as the servers count them.
/// </summary>
public sealed class HostNamesTests(ITestOutputHelper output) : IAsyncLifetime
{
    LocalCluster.LocalCluster _cluster = null!;

    public async Task InitializeAsync() =>
        _cluster = await LocalCluster.LocalCluster.StartAsync(new LocalClusterOptions
        {
            Nodes = [.. new[] { EveryPath.Zone2a, EveryPath.Zone2a, EveryPath.Zone2b }.Select(p => new NodeSpec(Placement.Parse(p)))],
            HostNames = true,
        });

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Theory]
    [InlineData("address", true)]
    [InlineData("name", true)]
    [InlineData("name", false)]
    public async Task Servers_reported_by_name_are_10_10_10_and_the_map_is_keyed_by_name(string listed, bool pooling)
    {
        var app = $"names-{listed}-{EveryPath.Mode(pooling)}";
        var first = _cluster.Node(1);
        var host = listed == "name" ? first.HostName! : first.Host;
        await using var ds = BrightDbDataSource.Create(
            $"Host={host};Port={first.Port};Database=bigmath;Username=bigmath;Password={_cluster.Password};Load Balance Hosts=true;" +
            $"Pooling={pooling};Application Name={app};Hedged Open Delay=10000");
        await using var held = new ConnectionSet();
        for (var i = 0; i < 30; i++)
        {
            NpgsqlConnection connection;
            if (i % 2 == 0)
            {
                connection = await ds.OpenConnectionAsync();
            }
            else
            {
                connection = ds.CreateConnection();
                await connection.OpenAsync();
            }

            held.Add(connection);
            await EveryPath.SelectOneAsync(connection);
        }

        var map = ds.GetHostToConnectionMap();
        var servers = await Counts.ServerEventuallyAsync(_cluster, app, "10/10/10");
        output.WriteLine($"listed {host}: map {string.Join(", ", map.Select(e => $"{e.Key}={e.Value}"))}; servers {servers}");
        var verdict = new Verdict();
        verdict.Equal("10/10/10", servers, "the servers' counts");
        verdict.Check(map.Count == 3 && _cluster.Nodes.All(n => map.GetValueOrDefault(n.HostName!) == 10),
            $"the map is not 10 on each node's name: {string.Join(", ", map.Select(e => $"{e.Key}={e.Value}"))}");
        verdict.Check(held.All(c => c.Host!.EndsWith(".brightdb.test", StringComparison.Ordinal)), "a connection was not made by name");
        verdict.Assert(ds);
    }
}

/// <summary>
/// A name that resolves to several addresses is one server: with public addresses too, each node's name resolves to its
/// private and its public address (both reach it). Listed by name, 30 connections go 10/10/10 on three map keys, the names.
/// The listed name resolving to a public address, the automatic rule would connect to the public addresses
/// (<c>public_ip</c>); <c>Server Addresses=private</c> keeps the names that <c>yb_servers()</c> reports in <c>host</c>.
/// </summary>
public sealed class HostNamesWithTwoAddressesTests(ITestOutputHelper output) : IAsyncLifetime
{
    LocalCluster.LocalCluster _cluster = null!;

    public async Task InitializeAsync() =>
        _cluster = await LocalCluster.LocalCluster.StartAsync(new LocalClusterOptions
        {
            Nodes = [.. new[] { EveryPath.Zone2a, EveryPath.Zone2a, EveryPath.Zone2b }.Select(p => new NodeSpec(Placement.Parse(p)))],
            HostNames = true,
            PublicAddresses = true,
        });

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task A_name_with_two_addresses_is_one_server()
    {
        const string App = "names-two-addresses";
        var first = _cluster.Node(1);
        Assert.Equal(2, (await System.Net.Dns.GetHostAddressesAsync(first.HostName!)).Length);
        await using var ds = BrightDbDataSource.Create(
            $"Host={first.HostName};Port={first.Port};Database=bigmath;Username=bigmath;Password={_cluster.Password};Load Balance Hosts=true;" +
            $"Application Name={App};Hedged Open Delay=10000;Server Addresses=private");
        await using var held = new ConnectionSet();
        var reached = new List<string>();
        for (var i = 0; i < 30; i++)
        {
            var connection = await ds.OpenConnectionAsync();
            held.Add(connection);
            await using var command = new NpgsqlCommand("select host(inet_server_addr())", connection);
            reached.Add((string)(await command.ExecuteScalarAsync())!);
        }

        var map = ds.GetHostToConnectionMap();
        var servers = await Counts.ServerEventuallyAsync(_cluster, App, "10/10/10");
        output.WriteLine($"map {string.Join(", ", map.Select(e => $"{e.Key}={e.Value}"))}; servers {servers}; addresses reached {string.Join(", ", reached.Distinct().Order())}");
        var verdict = new Verdict();
        verdict.Equal("10/10/10", servers, "the servers' counts");
        verdict.Check(map.Count == 3 && _cluster.Nodes.All(n => map.GetValueOrDefault(n.HostName!) == 10),
            $"the map is not 10 on each node's name: {string.Join(", ", map.Select(e => $"{e.Key}={e.Value}"))}");
        verdict.Assert(ds);
    }
}

/// <summary>
/// The listed host <c>localhost</c>, as in the psycopg2-brightdb tutorial: a cluster on 127.0.0.1-3 (block 0) on a port
/// of its own (free on every node's address, so that a tutorial cluster on port 2521 may run beside it) and without rpcz.
/// Discovery goes through <c>localhost</c>; the 30 connections go 10/10/10 on the addresses <c>yb_servers()</c> reports.
/// </summary>
public sealed class ListedLocalhostTests(ITestOutputHelper output) : IAsyncLifetime
{
    LocalCluster.LocalCluster _cluster = null!;

    public async Task InitializeAsync()
    {
        var port = FreePortOnTheFirstThreeAddresses();
        _cluster = await LocalCluster.LocalCluster.StartAsync(new LocalClusterOptions
        {
            Nodes = [.. new[] { EveryPath.Zone2a, EveryPath.Zone2a, EveryPath.Zone2b }.Select(p => new NodeSpec(Placement.Parse(p)))],
            AddressBlock = 0,
            Port = port,
            StartRpcz = false,
        });
    }

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task Listed_host_localhost_balances_10_10_10()
    {
        const string App = "listed-localhost";
        await using var ds = BrightDbDataSource.Create(
            $"host=localhost port={_cluster.Node(1).Port} dbname=bigmath user=bigmath password={_cluster.Password} load_balance=true " +
            $"application_name={App} hedged_open_delay=10000");
        await using var held = new ConnectionSet();
        await EveryPath.OpenHeldAsync(ds, 30, held);
        var servers = await Counts.ServerEventuallyAsync(_cluster, App, "10/10/10");
        var map = ds.GetHostToConnectionMap();
        output.WriteLine($"map {string.Join(", ", map.Select(e => $"{e.Key}={e.Value}"))}; servers {servers}");
        var verdict = new Verdict();
        verdict.Equal("10/10/10", servers, "the servers' counts");
        verdict.Check(_cluster.Nodes.All(n => map.GetValueOrDefault(n.Host) == 10) && map.Values.Sum() == 30,
            $"the map is not 10 on each node: {string.Join(", ", map.Select(e => $"{e.Key}={e.Value}"))}");
        verdict.Assert(ds);
    }

    /// <summary>A port no one listens on at 127.0.0.1, 127.0.0.2 and 127.0.0.3, from the kernel's ephemeral range.</summary>
    static int FreePortOnTheFirstThreeAddresses()
    {
        for (var attempt = 0; ; attempt++)
        {
            using var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
            probe.Start();
            var port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            if (new[] { "127.0.0.2", "127.0.0.3" }.All(a => IsFree(a, port)) || attempt > 20)
                return port;
        }

        static bool IsFree(string address, int port)
        {
            try
            {
                using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Parse(address), port);
                listener.Start();
                return true;
            }
            catch (System.Net.Sockets.SocketException)
            {
                return false;
            }
        }
    }
}
