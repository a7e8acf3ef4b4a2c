using System.Text.RegularExpressions;
using BrightDb.Npgsql.IntegrationTests.Support;
using Npgsql;

namespace BrightDb.Npgsql.IntegrationTests;

/// <summary>
/// The tutorial's 10/10/10 and 15/15/0 through every way psycopg2-brightdb takes properties (ADO.NET, libpq, URI, keyword/value
/// pairs) and through <see cref="BrightDbDriver.Connect(string)"/>, its <c>psycopg2.connect</c>.
/// </summary>
public sealed class PropertyFormsTests(SeedClusterFixture fixture) : IClassFixture<SeedClusterFixture>, IAsyncLifetime
{
    const string TopologyKey = SeedClusterFixture.Zone2a;
    readonly LocalCluster.LocalCluster _cluster = fixture.Cluster;

    public Task InitializeAsync() => Task.CompletedTask;

    // BrightDbDriver keeps its data sources for the life of the process: release them (and their pooled connections).
    public async Task DisposeAsync() => await BrightDbDriver.ClearAsync();

    string Host => _cluster.Nodes[0].Host;

    int Port => _cluster.Nodes[0].Port;

    /// <summary>
    /// The tutorial's properties in one of its forms; <c>port</c> is an int and <c>load_balance</c> the string "True" in the
    /// dictionary. Each form also raises the hedge delay (<see cref="Counts.PatientHedging"/>): the counts are exact.
    /// </summary>
    object Properties(string form, string app, string? topologyKeys) => form switch
    {
        "ado" => $"Host={Host};Port={Port};Database=bigmath;Username=bigmath;Password=bigmath;Load Balance Hosts=true;Application Name={app};{Counts.PatientHedging}"
                 + (topologyKeys is null ? "" : $";Topology Keys={topologyKeys}"),
        "libpq" => $"dbname=bigmath host={Host} port={Port} user=bigmath password=bigmath load_balance=true application_name={app} {Counts.PatientHedgingKey}={Counts.PatientHedgingValue}"
                   + (topologyKeys is null ? "" : $" topology_keys={topologyKeys}"),
        "uri" => $"postgresql://bigmath:bigmath@{Host}:{Port}/bigmath?load_balance=true&application_name={app}&{Counts.PatientHedgingKey}={Counts.PatientHedgingValue}"
                 + (topologyKeys is null ? "" : $"&topology_keys={Uri.EscapeDataString(topologyKeys)}"),
        "dictionary" => new Dictionary<string, object?>
        {
            ["user"] = "bigmath",
            ["password"] = "bigmath",
            ["host"] = Host,
            ["port"] = Port,
            ["dbname"] = "bigmath",
            ["load_balance"] = "True",
            ["application_name"] = app,
            ["topology_keys"] = topologyKeys,
            [Counts.PatientHedgingKey] = Counts.PatientHedgingValue,
        },
        _ => throw new ArgumentOutOfRangeException(nameof(form), form, null),
    };

    BrightDbDataSource CreateDataSource(object properties) => properties switch
    {
        string s => Counts.Create(s),
        IReadOnlyDictionary<string, object?> d => Counts.Create(d),
        _ => throw new ArgumentOutOfRangeException(nameof(properties)),
    };

    static NpgsqlConnection DriverConnect(object properties) => properties switch
    {
        string s => BrightDbDriver.Connect(s),
        IReadOnlyDictionary<string, object?> d => BrightDbDriver.Connect(d),
        _ => throw new ArgumentOutOfRangeException(nameof(properties)),
    };

    static BrightDbDataSource DriverDataSource(object properties) => properties switch
    {
        string s => BrightDbDriver.GetDataSource(s),
        IReadOnlyDictionary<string, object?> d => BrightDbDriver.GetDataSource(d),
        _ => throw new ArgumentOutOfRangeException(nameof(properties)),
    };

    [Theory]
    [InlineData("ado", false, "10/10/10")]
    [InlineData("libpq", false, "10/10/10")]
    [InlineData("uri", false, "10/10/10")]
    [InlineData("dictionary", false, "10/10/10")]
    [InlineData("ado", true, "15/15/0")]
    [InlineData("libpq", true, "15/15/0")]
    [InlineData("uri", true, "15/15/0")]
    [InlineData("dictionary", true, "15/15/0")]
    public async Task Thirty_connections_through_a_data_source(string form, bool topology, string expected)
    {
        var app = $"forms-ds-{form}-{(topology ? "topo" : "uniform")}";
        await using var connections = new ConnectionSet();
        await using (var ds = CreateDataSource(Properties(form, app, topology ? TopologyKey : null)))
        {
            for (var i = 0; i < 30; i++)
                connections.Add(await ds.OpenConnectionAsync());

            Counts.AssertMap(expected, ds, _cluster);
            Assert.Equal(expected, await Counts.ServerEventuallyAsync(_cluster, app, expected));
            await Counts.DisposeAllAsync(connections);
        }

        Assert.Equal("0/0/0", await Counts.ServerEventuallyAsync(_cluster, app, "0/0/0"));
    }

    [Theory]
    [InlineData("ado", false, "10/10/10")]
    [InlineData("libpq", false, "10/10/10")]
    [InlineData("uri", false, "10/10/10")]
    [InlineData("dictionary", false, "10/10/10")]
    [InlineData("ado", true, "15/15/0")]
    [InlineData("libpq", true, "15/15/0")]
    [InlineData("uri", true, "15/15/0")]
    [InlineData("dictionary", true, "15/15/0")]
    public async Task Thirty_connections_through_BrightDbDriver_Connect(string form, bool topology, string expected)
    {
        var app = $"forms-driver-{form}-{(topology ? "topo" : "uniform")}";
        var properties = Properties(form, app, topology ? TopologyKey : null);
        // Every Connect with the same properties shares one data source, hence one set of counts.
        var ds = Counts.Watch(DriverDataSource(properties));
        await using var connections = new ConnectionSet();
        for (var i = 0; i < 30; i++)
            connections.Add(DriverConnect(properties));

        Counts.AssertMap(expected, ds, _cluster);
        Assert.Equal(expected, await Counts.ServerEventuallyAsync(_cluster, app, expected));
        Assert.All(connections, c => Assert.Equal(System.Data.ConnectionState.Open, c.State));
        await Counts.DisposeAllAsync(connections);

        await BrightDbDriver.ClearAsync();
        Assert.Equal("0/0/0", await Counts.ServerEventuallyAsync(_cluster, app, "0/0/0"));
    }

    [Fact]
    public async Task Dictionary_pairs_in_another_order_share_the_driver_data_source()
    {
        var app = "forms-driver-dict-order";
        var first = (Dictionary<string, object?>)Properties("dictionary", app, null);
        var reversed = first.Reverse().ToDictionary(p => p.Key, p => p.Value);
        await using var connections = new ConnectionSet();
        for (var i = 0; i < 15; i++)
        {
            connections.Add(BrightDbDriver.Connect(first));
            connections.Add(BrightDbDriver.Connect(reversed));
        }

        Assert.Same(BrightDbDriver.GetDataSource(first), BrightDbDriver.GetDataSource(reversed));
        Counts.AssertMap("10/10/10", BrightDbDriver.GetDataSource(first), _cluster);
        Assert.Equal("10/10/10", await Counts.ServerEventuallyAsync(_cluster, app, "10/10/10"));
        await Counts.DisposeAllAsync(connections);
    }

    [Fact]
    public async Task BrightDbDriver_ConnectAsync_spreads_ten_per_node()
    {
        var app = "forms-driver-async";
        var properties = (string)Properties("libpq", app, null);
        var ds = Counts.Watch(BrightDbDriver.GetDataSource(properties));
        await using var connections = new ConnectionSet();
        for (var i = 0; i < 30; i++)
            connections.Add(await BrightDbDriver.ConnectAsync(properties));

        Counts.AssertMap("10/10/10", ds, _cluster);
        Assert.Equal("10/10/10", await Counts.ServerEventuallyAsync(_cluster, app, "10/10/10"));
        await Counts.DisposeAllAsync(connections);
    }

    [Fact]
    public async Task PrintHostToConnMap_prints_one_host_count_line_per_host()
    {
        var app = "forms-print";
        await using var connections = new ConnectionSet();
        await using var ds = CreateDataSource(Properties("libpq", app, null));
        for (var i = 0; i < 30; i++)
            connections.Add(ds.OpenConnection());

        var writer = new StringWriter();
        ClusterAwareLoadBalancer.PrintHostToConnMap(writer);
        var lines = writer.ToString().Split(writer.NewLine, StringSplitOptions.RemoveEmptyEntries);

        // The map is the whole process's: other test classes' clusters (other 127.0.X blocks) may appear too.
        Assert.All(lines, line => Assert.Matches(new Regex(@"^\S+: \d+$"), line));
        var hosts = lines.Select(l => l[..l.LastIndexOf(':')]).ToList();
        Assert.Equal(hosts.Distinct(StringComparer.Ordinal).Count(), hosts.Count);
        Assert.Equal(hosts.Order(StringComparer.Ordinal), hosts);
        var ours = _cluster.Nodes.Select(n => $"{n.Host}: 10").ToList();
        Assert.Equal(ours, lines.Where(l => _cluster.Nodes.Any(n => l.StartsWith(n.Host + ":", StringComparison.Ordinal))));

        Assert.Equal("10/10/10", await Counts.ServerEventuallyAsync(_cluster, app, "10/10/10"));
        await Counts.DisposeAllAsync(connections);
    }
}
