// The psycopg2-brightdb tutorial in C#: a local 3-node cluster, 30 balanced connections (10/10/10), 30 connections with a topology
// key (15/15/0), each time the driver's own map beside what the servers and their rpcz pages report, then clean up.
// Exit code: 0 when every count is as expected, 1 when one is not, 2 when the tutorial could not run.
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using BrightDb.LocalCluster;
using BrightDb.Npgsql;
using Npgsql;
using Cluster = BrightDb.LocalCluster.LocalCluster;

const string Placements = "aws.us-west.us-west-2a,aws.us-west.us-west-2a,aws.us-west.us-west-2b";
const string TopologyKey = "aws.us-west.us-west-2a";

string? attachTo = args is ["--base-dir", var dir] ? dir : null;
var mismatches = new List<string>();
Cluster? cluster = null;
try
{
    // 1. bm-dev-ctl create --rf 3 --placement_info "aws.us-west.us-west-2a,aws.us-west.us-west-2a,aws.us-west.us-west-2b"
    //    With --base-dir DIR the tutorial uses the cluster bm-dev-ctl created there (and leaves it to bm-dev-ctl destroy);
    //    without, it creates its own on free loopback addresses and destroys it at the end.
    if (attachTo is not null)
    {
        Console.WriteLine($"== 1. the cluster created by bm-dev-ctl in {attachTo}");
        cluster = Cluster.TryAttach(attachTo)
                  ?? throw new InvalidOperationException($"No cluster in {attachTo}: create one first with ./bin/bm-dev-ctl create.");
    }
    else
    {
        Console.WriteLine($"== 1. create a local 3-node cluster, replication factor 3, placements {Placements}");
        cluster = await Cluster.StartAsync(new LocalClusterOptions
        {
            Nodes = [.. Placements.Split(',').Select(p => new NodeSpec(Placement.Parse(p)))],
            StartRpcz = true,
        });
    }
    foreach (var node in cluster.Nodes)
        Console.WriteLine($"   node {node.Index}: {node.Address}  {node.Placement}  rpcz http://{node.Host}:{node.RpczPort}/rpcz");

    using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
    var host = cluster.Nodes[0].Host;
    var port = cluster.Nodes[0].Port;

    // 2. Uniform balancing:
    //    conn = psycopg2.connect("dbname=database_name host=hostname port=2521 user=username password=password load_balance=true")
    Console.WriteLine();
    Console.WriteLine("== 2. uniform load balancing: 30 connections with load_balance=true");
    var uniform = $"dbname=bigmath host={host} port={port} user=bigmath password=bigmath load_balance=true application_name=tutorial-uniform";
    Console.WriteLine($"   BrightDbDriver.Connect(\"{uniform.Replace("password=bigmath", "password=***", StringComparison.Ordinal)}\") x 30");
    var connections = new List<NpgsqlConnection>();
    for (var i = 0; i < 30; i++)
        connections.Add(BrightDbDriver.Connect(uniform));

    // from psycopg2.policies import ClusterAwareLoadBalancer as lb; lb().printHostToConnMap()
    Console.WriteLine("   ClusterAwareLoadBalancer.PrintHostToConnMap():");
    var printed = new StringWriter();
    ClusterAwareLoadBalancer.PrintHostToConnMap(printed);
    foreach (var line in printed.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries))
        Console.WriteLine($"     {line}");
    await CompareAsync(cluster, http, BrightDbDriver.GetDataSource(uniform), "tutorial-uniform", [10, 10, 10], mismatches);
    await CloseAllAsync(cluster, connections, "tutorial-uniform");

    // 3. Topology-aware balancing, in the keyword form:
    //    conn = psycopg2.connect(user='username', password='password', host='hostname', port='2521',
    //                            dbname='database_name', load_balance='True', topology_keys='cloud.region.zone1')
    Console.WriteLine();
    Console.WriteLine($"== 3. topology-aware load balancing: 30 connections with topology_keys={TopologyKey}");
    var topology = new Dictionary<string, object?>
    {
        ["user"] = "bigmath",
        ["password"] = "bigmath",
        ["host"] = host,
        ["port"] = port,
        ["dbname"] = "bigmath",
        ["load_balance"] = "True",
        ["topology_keys"] = TopologyKey,
        ["application_name"] = "tutorial-topology",
    };
    Console.WriteLine($"   BrightDbDriver.Connect(new Dictionary<string, object?> {{ [\"load_balance\"] = \"True\", [\"topology_keys\"] = \"{TopologyKey}\", ... }}) x 30");
    for (var i = 0; i < 30; i++)
        connections.Add(BrightDbDriver.Connect(topology));
    await CompareAsync(cluster, http, BrightDbDriver.GetDataSource(topology), "tutorial-topology", [15, 15, 0], mismatches);
    await CloseAllAsync(cluster, connections, "tutorial-topology");

    // A pool with load balancing:
    //    pool = psycopg2.pool.SimpleConnectionPool(1, 10, user="bigmath", password="bigmath", host="127.0.0.1", port="2521",
    //                                              database="bigmath", load_balance="True")
    //    conn = pool.getconn()
    Console.WriteLine();
    Console.WriteLine("== a pool of 1 to 10 connections per server, with load balancing");
    await using (var pool = BrightDbDataSource.Create(new Dictionary<string, object?>
    {
        ["user"] = "bigmath",
        ["password"] = "bigmath",
        ["host"] = host,
        ["port"] = port,
        ["database"] = "bigmath",
        ["load_balance"] = "True",
        ["Minimum Pool Size"] = 1,
        ["Maximum Pool Size"] = 10,
        ["application_name"] = "tutorial-pool",
    }))
    {
        await using var conn = await pool.OpenConnectionAsync();
        await using var command = new NpgsqlCommand("select host(inet_server_addr())", conn);
        Console.WriteLine($"   pool.OpenConnectionAsync() -> connected to {await command.ExecuteScalarAsync()}");
    }

    // 4. bm-dev-ctl destroy
    await BrightDbDriver.ClearAsync();
    if (attachTo is null)
    {
        Console.WriteLine();
        Console.WriteLine("== 4. clean up: destroy the cluster");
        await cluster.DestroyAsync();
    }
}
catch (Exception e)
{
    Console.Error.WriteLine($"The tutorial could not run: {e.GetType().Name}: {e.Message}");
    await BrightDbDriver.ClearAsync();
    if (cluster is not null)
        await cluster.DisposeAsync();
    return 2;
}

await cluster.DisposeAsync();
Console.WriteLine();
if (mismatches.Count == 0)
{
    Console.WriteLine("OK: 10/10/10 with load_balance=true and 15/15/0 with the topology key, in the driver's map, on the servers and on rpcz.");
    return 0;
}

foreach (var mismatch in mismatches)
    Console.Error.WriteLine($"MISMATCH: {mismatch}");
return 1;

// The driver's map, the servers' own count (pg_stat_activity) and each node's rpcz page, side by side. The servers may
// take a moment to show a connection that was just handed over, so they are read again for a few seconds until they agree.
static async Task CompareAsync(Cluster cluster, HttpClient http, BrightDbDataSource dataSource, string app, int[] expected, List<string> mismatches)
{
    var map = dataSource.GetHostToConnectionMap();
    int[] server = [], rpcz = [];
    var watch = Stopwatch.StartNew();
    do
    {
        var counts = await ServerCountsAsync(cluster, app);
        server = [.. cluster.Nodes.Select(n => counts.GetValueOrDefault(n.Index))];
        rpcz = [.. await Task.WhenAll(cluster.Nodes.Select(n => RpczCountAsync(http, n, app)))];
        if (server.SequenceEqual(expected) && rpcz.SequenceEqual(expected))
            break;
        await Task.Delay(100);
    }
    while (watch.Elapsed < TimeSpan.FromSeconds(5));

    Console.WriteLine();
    Console.WriteLine($"   {"node",-5}{"host",-16}{"placement",-26}{"driver map",12}{"server",8}{"rpcz",6}{"expected",10}");
    for (var i = 0; i < cluster.Nodes.Count; i++)
    {
        var node = cluster.Nodes[i];
        var driver = map.GetValueOrDefault(node.Host);
        var ok = driver == expected[i] && server[i] == expected[i] && rpcz[i] == expected[i];
        Console.WriteLine($"   {node.Index,-5}{node.Host,-16}{node.Placement,-26}{driver,12}{server[i],8}{rpcz[i],6}{expected[i],10}{(ok ? "" : "  <-- differs")}");
        if (!ok)
            mismatches.Add($"{app}: node {node.Index} ({node.Host}) driver map {driver}, server {server[i]}, rpcz {rpcz[i]}, expected {expected[i]}");
    }

    var foreign = map.Keys.Where(h => cluster.Nodes.All(n => n.Host != h)).ToList();
    if (foreign.Count > 0)
        mismatches.Add($"{app}: the driver's map names hosts that are not nodes of the cluster: {string.Join(", ", foreign)}");
}

// GET http://<host>:8100/rpcz: the node's client connections; this step's are those with its application name.
static async Task<int> RpczCountAsync(HttpClient http, LocalNode node, string app)
{
    var json = await http.GetStringAsync(new Uri($"http://{node.Host}:{node.RpczPort.ToString(CultureInfo.InvariantCulture)}/rpcz"));
    using var document = JsonDocument.Parse(json);
    return document.RootElement.GetProperty("connections").EnumerateArray()
        .Count(c => c.TryGetProperty("application_name", out var name) && name.GetString() == app);
}

// Closing returns the connections to their pools; ClearAsync closes the pools' connections on the servers, as closing a
// psycopg2 connection does, so the next step starts from 0/0/0.
static async Task CloseAllAsync(Cluster cluster, List<NpgsqlConnection> connections, string app)
{
    foreach (var connection in connections)
        await connection.DisposeAsync();
    connections.Clear();
    await BrightDbDriver.ClearAsync();
    var watch = Stopwatch.StartNew();
    IReadOnlyDictionary<int, int> counts;
    while ((counts = await ServerCountsAsync(cluster, app)).Values.Any(c => c > 0) && watch.Elapsed < TimeSpan.FromSeconds(5))
        await Task.Delay(100);
    Console.WriteLine($"   closed: servers now hold {string.Join("/", counts.OrderBy(p => p.Key).Select(p => p.Value))} connections of {app}");
}

// Client connections per node from pg_stat_activity; asked again if the query's own connection times out on a busy machine.
static async Task<IReadOnlyDictionary<int, int>> ServerCountsAsync(Cluster cluster, string app)
{
    for (var attempt = 1; ; attempt++)
    {
        try
        {
            return await cluster.GetClientConnectionCountsAsync(app);
        }
        catch (NpgsqlException e) when (attempt < 3 && e.InnerException is TimeoutException)
        {
        }
    }
}
