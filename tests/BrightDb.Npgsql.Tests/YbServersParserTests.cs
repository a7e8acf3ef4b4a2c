using BrightDb.Npgsql.ConnectionStrings;
using BrightDb.Npgsql.Topology;
using CsCheck;

namespace BrightDb.Npgsql.Tests;

public class YbServersParserTests
{
    static readonly IReadOnlySet<string> NoAddresses = new HashSet<string>();

    static YbServersRow Row(string? host = "10.0.0.1", long? port = 2521, string? type = "primary", string? cloud = "aws", string? region = "us-west",
        string? zone = "us-west-2a", string? publicIp = null, string? uuid = "u") => new(host, port, type, cloud, region, zone, publicIp, uuid);

    static readonly Dictionary<string, (YbServersRow Row, string Problem)> BadRowCases = new()
    {
        ["NULL host"] = (Row(host: null), "no host"),
        ["empty host"] = (Row(host: ""), "no host"),
        ["blank host"] = (Row(host: "   "), "no host"),
        ["NULL port"] = (Row(port: null), "NULL"),
        ["port 0"] = (Row(port: 0), "port 0"),
        ["port -1"] = (Row(port: -1), "port -1"),
        ["port 70000"] = (Row(port: 70000), "port 70000"),
        ["port long.MaxValue"] = (Row(port: long.MaxValue), "is not from 1 to 65535"),
        ["unknown node_type"] = (Row(type: "witness"), "node_type 'witness'"),
        ["NULL node_type"] = (Row(type: null), "node_type"),
        ["long host"] = (Row(host: new string('h', 256)), "field host"),
        ["long cloud"] = (Row(cloud: new string('c', 256)), "field cloud"),
        ["long region"] = (Row(region: new string('r', 1000)), "field region"),
        ["long zone"] = (Row(zone: new string('z', 256)), "field zone"),
        ["long node_type"] = (Row(type: new string('t', 256)), "field node_type"),
        ["long public_ip"] = (Row(publicIp: new string('p', 256)), "field public_ip"),
        ["long uuid"] = (Row(uuid: new string('u', 300)), "field uuid"),
    };

    public static TheoryData<string> BadRows => new(BadRowCases.Keys);

    [Theory]
    [MemberData(nameof(BadRows))]
    public void Bad_rows_are_skipped_with_a_problem(string why)
    {
        var (bad, problem) = BadRowCases[why];
        var result = YbServersParser.Parse([Row(host: "good1"), bad, Row(host: "good2")], NoAddresses);
        Assert.Equal(["good1", "good2"], result.Servers.Select(s => s.Host));
        var reported = Assert.Single(result.Problems);
        Assert.StartsWith("row 2:", reported, StringComparison.Ordinal);
        Assert.True(reported.Contains(problem, StringComparison.Ordinal), $"{why}: {reported}");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(65535)]
    [InlineData(2521)]
    public void Port_bounds_are_accepted(long port) =>
        Assert.Equal((int)port, Assert.Single(YbServersParser.Parse([Row(port: port)], NoAddresses).Servers).Port);

    [Fact]
    public void Fields_of_255_characters_are_accepted()
    {
        var longest = new string('z', 255);
        var server = Assert.Single(YbServersParser.Parse([Row(zone: longest, host: new string('h', 255))], NoAddresses).Servers);
        Assert.Equal(longest, server.Zone);
    }

    [Theory]
    [InlineData("primary", ServerNodeType.Primary)]
    [InlineData("PRIMARY", ServerNodeType.Primary)]
    [InlineData(" primary ", ServerNodeType.Primary)]
    [InlineData("read_replica", ServerNodeType.ReadReplica)]
    [InlineData("Read_Replica", ServerNodeType.ReadReplica)]
    [InlineData("read-replica", ServerNodeType.ReadReplica)]
    public void Node_types(string value, ServerNodeType expected) =>
        Assert.Equal(expected, Assert.Single(YbServersParser.Parse([Row(type: value)], NoAddresses).Servers).NodeType);

    [Fact]
    public void Duplicates_are_skipped_case_insensitively()
    {
        var result = YbServersParser.Parse(
            [Row(host: "Node1", zone: "z1"), Row(host: "node1", zone: "z2"), Row(host: "node1", port: 2522), Row(host: " NODE1 ")], NoAddresses);
        Assert.Equal([("Node1", 2521, "z1"), ("node1", 2522, "us-west-2a")], result.Servers.Select(s => (s.Host, s.Port, s.Zone)));
        Assert.Equal(2, result.Problems.Count);
        Assert.All(result.Problems, p => Assert.Contains("duplicate", p, StringComparison.Ordinal));
    }

    [Fact]
    public void Null_placement_is_kept()
    {
        var server = Assert.Single(YbServersParser.Parse([Row(cloud: null, region: null, zone: " ", uuid: null)], NoAddresses).Servers);
        Assert.Null(server.Cloud);
        Assert.Null(server.Region);
        Assert.Null(server.Zone);
        Assert.Null(server.Uuid);
        Assert.Empty(YbServersParser.Parse([Row(cloud: null)], NoAddresses).Problems);
    }

    [Fact]
    public void Values_are_trimmed()
    {
        var server = Assert.Single(YbServersParser.Parse([Row(host: " h ", cloud: " aws ", region: "r ", zone: " z")], NoAddresses).Servers);
        Assert.Equal(("h", "aws", "r", "z", "h"), (server.Host, server.Cloud, server.Region, server.Zone, server.ConnectHost));
    }

    [Fact]
    public void More_than_4096_rows_keeps_the_first_4096()
    {
        var rows = Enumerable.Range(0, 5000).Select(i => Row(host: $"h{i}")).ToList();
        var result = YbServersParser.Parse(rows, NoAddresses);
        Assert.Equal(YbServersParser.MaxRows, result.Servers.Count);
        Assert.Equal("h4095", result.Servers[^1].Host);
        Assert.Contains(result.Problems, p => p.Contains("4096", StringComparison.Ordinal));
    }

    [Fact]
    public void Exactly_4096_rows_is_not_a_problem()
    {
        var rows = Enumerable.Range(0, 4096).Select(i => Row(host: $"h{i}")).ToList();
        var result = YbServersParser.Parse(rows, NoAddresses);
        Assert.Equal(4096, result.Servers.Count);
        Assert.Empty(result.Problems);
    }

    [Fact]
    public void Empty_answer_is_no_servers()
    {
        var result = YbServersParser.Parse([], NoAddresses);
        Assert.Empty(result.Servers);
        Assert.Empty(result.Problems);
        Assert.False(result.UsesPublicIp);
    }

    [Fact]
    public void Public_ip_is_used_when_a_given_address_is_one()
    {
        var rows = new[]
        {
            Row(host: "10.0.0.1", publicIp: "54.0.0.1"),
            Row(host: "10.0.0.2", publicIp: " 54.0.0.2 "),
            Row(host: "10.0.0.3", publicIp: null),
        };
        var result = YbServersParser.Parse(rows, new HashSet<string>(StringComparer.OrdinalIgnoreCase) { "54.0.0.2" });
        Assert.True(result.UsesPublicIp);
        Assert.Equal(["54.0.0.1", "54.0.0.2", "10.0.0.3"], result.Servers.Select(s => s.ConnectHost));
        Assert.Equal(["10.0.0.1", "10.0.0.2", "10.0.0.3"], result.Servers.Select(s => s.Host));
    }

    [Theory]
    [InlineData("10.0.0.1")]      // a private address: stay inside
    [InlineData("lb.example")]    // some other name
    [InlineData("")]
    public void Public_ip_is_not_used_otherwise(string given)
    {
        var rows = new[] { Row(host: "10.0.0.1", publicIp: "54.0.0.1"), Row(host: "10.0.0.2", publicIp: "54.0.0.2") };
        var result = YbServersParser.Parse(rows, new HashSet<string> { given });
        Assert.False(result.UsesPublicIp);
        Assert.Equal(["10.0.0.1", "10.0.0.2"], result.Servers.Select(s => s.ConnectHost));
    }

    static readonly Gen<string?> Field =
        Gen.OneOf(Gen.Const((string?)null), Gen.OneOfConst<string?>("", " ", "primary", "read_replica", "PRIMARY", "aws", "10.0.0.1", "h", "H"),
            Gen.Char["abc:. _-\t"].Array[0, 8].Select(c => (string?)new string(c)),
            Gen.Int[250, 260].Select(n => (string?)new string('x', n)));

    static readonly Gen<YbServersRow> AnyRow =
        Gen.Select(Field, Gen.OneOf(Gen.Const((long?)null), Gen.Long[-5, 70000].Select(l => (long?)l), Gen.OneOfConst<long?>(long.MinValue, long.MaxValue, 2521)),
            Field, Field, Field, Field, Field, Field,
            (h, p, t, c, r, z, ip, u) => new YbServersRow(h, p, t, c, r, z, ip, u));

    [Fact]
    public void Any_rows_parse_without_crashing_into_valid_unique_servers()
    {
        Gen.Select(AnyRow.List[0, 40], Gen.OneOfConst("10.0.0.1", "h", "aws", "")).Sample((rows, given) =>
        {
            var result = YbServersParser.Parse(rows, new HashSet<string>(StringComparer.OrdinalIgnoreCase) { given });
            Assert.Equal(rows.Count, result.Servers.Count + result.Problems.Count);
            Assert.All(result.Servers, s =>
            {
                Assert.InRange(s.Port, 1, 65535);
                Assert.False(string.IsNullOrWhiteSpace(s.ConnectHost));
                Assert.InRange(s.Host.Length, 1, YbServersParser.MaxFieldLength);
            });
            Assert.Equal(result.Servers.Count, result.Servers.Select(s => (s.ConnectHost.ToLowerInvariant(), s.Port)).Distinct().Count());
        }, iter: 500, threads: 1);
    }

    [Theory]
    [InlineData("54.0.0.1", "auto", "54.0.0.1,54.0.0.2,10.0.0.3")]
    [InlineData("10.0.0.1", "auto", "10.0.0.1,10.0.0.2,10.0.0.3")]
    [InlineData("10.0.0.1", "public", "54.0.0.1,54.0.0.2,10.0.0.3")]
    [InlineData("54.0.0.1", "private", "10.0.0.1,10.0.0.2,10.0.0.3")]
    [InlineData("lb.example", "public", "54.0.0.1,54.0.0.2,10.0.0.3")]
    public void Server_Addresses_forces_the_public_or_the_private_address(string given, string choice, string expected)
    {
        var result = YbServersParser.Parse(
            [Row(host: "10.0.0.1", publicIp: "54.0.0.1"), Row(host: "10.0.0.2", publicIp: "54.0.0.2"), Row(host: "10.0.0.3")],
            new HashSet<string> { given }, DriverValues.ParseServerAddresses(choice, Keywords.ServerAddresses));
        // A server without a public address is reached at its host whatever the choice.
        Assert.Equal(expected, string.Join(",", result.Servers.Select(s => s.ConnectHost)));
    }
}
