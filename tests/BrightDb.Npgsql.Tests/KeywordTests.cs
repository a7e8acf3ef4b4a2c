using Npgsql;
using BrightDb.Npgsql.ConnectionStrings;

namespace BrightDb.Npgsql.Tests;

public class KeywordTests
{
    [Theory]
    [InlineData("load_balance")]
    [InlineData("Load Balance")]
    [InlineData("LoadBalance")]
    [InlineData("load-balance")]
    [InlineData("Load Balance Hosts")]
    [InlineData("LOAD_BALANCE_HOSTS")]
    [InlineData("loadbalancehosts")]
    [InlineData("Load-Balance Hosts")]
    public void Load_balance_spellings(string keyword)
    {
        var b = new BrightDbConnectionStringBuilder { [keyword] = "only-rr" };
        Assert.Equal(LoadBalanceMode.OnlyReadReplica, b.LoadBalanceHosts);
        Assert.True(b.ContainsKey("load_balance"));
        Assert.Equal("only-rr", (string)b[keyword]);
        Assert.Equal(["Load Balance Hosts"], b.Keys.Cast<string>());
        Assert.True(b.Remove("LOAD-BALANCE"));
        Assert.Empty(b.Keys.Cast<string>());
    }

    [Theory]
    [InlineData("topology_keys", Keywords.TopologyKeys, "a.b.c")]
    [InlineData("Topology-Keys", Keywords.TopologyKeys, "a.b.c")]
    [InlineData("yb_servers_refresh_interval", Keywords.YBServersRefreshInterval, "12")]
    [InlineData("YB Servers Refresh Interval", Keywords.YBServersRefreshInterval, "12")]
    [InlineData("failed_host_reconnect_delay_secs", Keywords.FailedHostReconnectDelaySecs, "9")]
    [InlineData("failed_host_ttl_seconds", Keywords.FailedHostReconnectDelaySecs, "9")]
    [InlineData("Failed Host TTL Seconds", Keywords.FailedHostReconnectDelaySecs, "9")]
    [InlineData("fallback_to_topology_keys_only", Keywords.FallbackToTopologyKeysOnly, "true")]
    [InlineData("dbname", "Database", "db")]
    [InlineData("user", "Username", "u")]
    [InlineData("User ID", "Username", "u")]
    [InlineData("connect_timeout", "Timeout", "7")]
    [InlineData("sslmode", "SSL Mode", "Require")]
    [InlineData("application_name", "Application Name", "app")]
    [InlineData("target_session_attrs", "Target Session Attributes", "any")]
    [InlineData("max_pool_size", "Maximum Pool Size", "20")]
    [InlineData("Maximum Pool Size", "Maximum Pool Size", "20")]
    [InlineData("keepalives_idle", "Tcp Keepalive Time", "30")]
    [InlineData("sslrootcert", "Root Certificate", "/x.pem")]
    [InlineData("HOST", "Host", "h")]
    [InlineData("search_path", "Search Path", "s")]
    public void Keywords_are_stored_under_their_canonical_name(string keyword, string canonical, string value)
    {
        var b = new BrightDbConnectionStringBuilder { [keyword] = value };
        Assert.Equal([canonical], b.Keys.Cast<string>());
        Assert.Equal(value, (string)b[canonical]);
        Assert.True(b.TryGetValue(keyword, out var got));
        Assert.Equal(value, (string)got);
    }

    [Theory]
    [InlineData("host=h sslmode=verify-full", "VerifyFull")]
    [InlineData("host=h sslmode=verify-ca", "VerifyCA")]
    [InlineData("postgresql://h/db?sslmode=verify-full", "VerifyFull")]
    [InlineData("Host=h;SSL Mode=verify-full", "VerifyFull")]
    [InlineData("Host=h;SSL Mode=VerifyFull", "VerifyFull")]
    [InlineData("host=h sslmode=require", "Require")]
    public void Libpq_spellings_of_ssl_modes_are_Npgsqls(string connectionString, string expected)
    {
        var b = new BrightDbConnectionStringBuilder(connectionString);
        Assert.Equal(expected, (string)b["SSL Mode"], StringComparer.OrdinalIgnoreCase);
        var npgsql = new NpgsqlConnectionStringBuilder(TestSupport.Settings(connectionString).NpgsqlConnectionString(includePassword: false));
        Assert.Equal(Enum.Parse<SslMode>(expected, ignoreCase: true), npgsql.SslMode);
    }

    [Fact]
    public void Libpq_names_configure_npgsql()
    {
        var s = TestSupport.Settings("host=h dbname=d user=u connect_timeout=7 sslmode=disable application_name=app password=p");
        var npgsql = new global::Npgsql.NpgsqlConnectionStringBuilder(s.ForServer("h", 2521));
        Assert.Equal("d", npgsql.Database);
        Assert.Equal("u", npgsql.Username);
        Assert.Equal(7, npgsql.Timeout);
        Assert.Equal(global::Npgsql.SslMode.Disable, npgsql.SslMode);
        Assert.Equal("app", npgsql.ApplicationName);
        Assert.Equal("p", npgsql.Password);
    }

    public static TheoryData<string, LoadBalanceMode> Modes => new()
    {
        { "false", LoadBalanceMode.Disabled },
        { "False", LoadBalanceMode.Disabled },
        { "0", LoadBalanceMode.Disabled },
        { "true", LoadBalanceMode.Any },
        { "True", LoadBalanceMode.Any },
        { "TRUE", LoadBalanceMode.Any },
        { "1", LoadBalanceMode.Any },
        { "any", LoadBalanceMode.Any },
        { "Any", LoadBalanceMode.Any },
        { "only-primary", LoadBalanceMode.OnlyPrimary },
        { "onlyprimary", LoadBalanceMode.OnlyPrimary },
        { "only_primary", LoadBalanceMode.OnlyPrimary },
        { "Only-Primary", LoadBalanceMode.OnlyPrimary },
        { "only-rr", LoadBalanceMode.OnlyReadReplica },
        { "onlyrr", LoadBalanceMode.OnlyReadReplica },
        { "prefer-primary", LoadBalanceMode.PreferPrimary },
        { "preferprimary", LoadBalanceMode.PreferPrimary },
        { "prefer-rr", LoadBalanceMode.PreferReadReplica },
        { "PREFER_RR", LoadBalanceMode.PreferReadReplica },
        { " true ", LoadBalanceMode.Any },
    };

    [Theory]
    [MemberData(nameof(Modes))]
    public void Load_balance_values(string value, LoadBalanceMode expected)
    {
        Assert.Equal(expected, new BrightDbConnectionStringBuilder { ["load_balance"] = value }.LoadBalanceHosts);
        Assert.Equal(expected, TestSupport.Settings($"Host=h;Load Balance Hosts={value}").LoadBalance);
        Assert.Equal(expected, TestSupport.Settings($"host=h load_balance='{value}'").LoadBalance);
        Assert.Equal(expected, TestSupport.Settings($"postgresql://h?load_balance={Uri.EscapeDataString(value)}").LoadBalance);
    }

    [Theory]
    [InlineData(LoadBalanceMode.Disabled)]
    [InlineData(LoadBalanceMode.Any)]
    [InlineData(LoadBalanceMode.OnlyPrimary)]
    [InlineData(LoadBalanceMode.OnlyReadReplica)]
    [InlineData(LoadBalanceMode.PreferPrimary)]
    [InlineData(LoadBalanceMode.PreferReadReplica)]
    public void Load_balance_property_round_trips(LoadBalanceMode mode)
    {
        var b = new BrightDbConnectionStringBuilder { Host = "h", LoadBalanceHosts = mode };
        Assert.Equal(mode, b.LoadBalanceHosts);
        Assert.Equal(mode, new BrightDbConnectionStringBuilder(b.ConnectionString).LoadBalanceHosts);
        Assert.Equal(mode, new BrightDbConnectionStringBuilder { ["load_balance"] = mode }.LoadBalanceHosts);
    }

    [Fact]
    public void Defaults()
    {
        var b = new BrightDbConnectionStringBuilder("Host=h");
        Assert.Equal(2521, b.Port);
        Assert.Equal(LoadBalanceMode.Disabled, b.LoadBalanceHosts);
        Assert.Null(b.TopologyKeys);
        Assert.Equal(300, b.YBServersRefreshInterval);
        Assert.Equal(5, b.FailedHostReconnectDelaySecs);
        Assert.False(b.FallbackToTopologyKeysOnly);

        var s = BrightDbSettings.From(b);
        Assert.Equal([new HostAndPort("h", 2521)], s.ListedHosts);
        Assert.Equal(LoadBalanceMode.Disabled, s.LoadBalance);
        Assert.Empty(s.TopologyKeys);
        Assert.Equal(TimeSpan.FromSeconds(300), s.RefreshInterval);
        Assert.Equal(TimeSpan.FromSeconds(5), s.ReconnectDelay);
        Assert.False(s.FallbackToTopologyKeysOnly);
        Assert.Equal("h:2521", new global::Npgsql.NpgsqlConnectionStringBuilder(s.NpgsqlConnectionString(includePassword: true)).Host);
        Assert.Equal(2521, new global::Npgsql.NpgsqlConnectionStringBuilder(s.ForServer("h", 2521)).Port);
    }

    [Theory]
    [InlineData("0", 0)]
    [InlineData("600", 600)]
    [InlineData(" 45 ", 45)]
    public void Refresh_interval_range(string value, int expected) =>
        Assert.Equal(TimeSpan.FromSeconds(expected), TestSupport.Settings($"Host=h;yb_servers_refresh_interval={value}").RefreshInterval);

    [Theory]
    [InlineData("0", 0)]
    [InlineData("60", 60)]
    public void Reconnect_delay_range(string value, int expected) =>
        Assert.Equal(TimeSpan.FromSeconds(expected), TestSupport.Settings($"Host=h;failed_host_ttl_seconds={value}").ReconnectDelay);

    [Theory]
    [InlineData("true", true)]
    [InlineData("True", true)]
    [InlineData("1", true)]
    [InlineData("yes", true)]
    [InlineData("false", false)]
    [InlineData("off", false)]
    public void Fallback_values(string value, bool expected) =>
        Assert.Equal(expected, TestSupport.Settings($"Host=h;Load Balance Hosts=true;Fallback To Topology Keys Only={value}").FallbackToTopologyKeysOnly);

    [Theory]
    [InlineData("Host=h;Topology Keys=a.b.c")]
    [InlineData("host=h topology_keys=a.b.c")]
    [InlineData("postgresql://h?topology_keys=a.b.c")]
    public void Topology_keys_without_load_balance_imply_any(string text) =>
        Assert.Equal(LoadBalanceMode.Any, TestSupport.Settings(text).LoadBalance);

    [Theory]
    [InlineData("Host=h;Topology Keys=a.b.c;Load Balance Hosts=only-rr", LoadBalanceMode.OnlyReadReplica)]
    [InlineData("Host=h;Topology Keys=a.b.c;Load Balance Hosts=prefer-primary", LoadBalanceMode.PreferPrimary)]
    [InlineData("Host=h;Topology Keys= ;Load Balance Hosts=false", LoadBalanceMode.Disabled)]
    public void Topology_keys_keep_an_explicit_mode(string text, LoadBalanceMode mode) =>
        Assert.Equal(mode, TestSupport.Settings(text).LoadBalance);

    [Theory]
    [InlineData("Host=h;Topology Keys=a.b.c;Load Balance Hosts=false")]
    [InlineData("host=h topology_keys=a.b.c load_balance=false")]
    [InlineData("postgresql://h?load_balance=0&topology_keys=a.b.c")]
    public void Topology_keys_with_explicit_false_throw(string text)
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => TestSupport.Settings(text));
        Assert.Contains("Topology Keys", e.Message, StringComparison.Ordinal);
        Assert.Contains("Load Balance Hosts", e.Message, StringComparison.Ordinal);
    }

    public static TheoryData<string, string[]> TopologyKeyLists => new()
    {
        { "aws.us-west.us-west-2a", ["aws.us-west.us-west-2a:1"] },
        { "aws.us-west.us-west-2a:1", ["aws.us-west.us-west-2a:1"] },
        { "aws.us-west.*:10", ["aws.us-west.*:10"] },
        { " a.b.c:2 , d.e.f ", ["a.b.c:2", "d.e.f:1"] },
        { "a.b.c:01", ["a.b.c:1"] },
        { "a . b . c", ["a.b.c:1"] },
        { "a.b.c,a.b.c:3", ["a.b.c:1", "a.b.c:3"] },
    };

    [Theory]
    [MemberData(nameof(TopologyKeyLists))]
    public void Topology_key_lists(string value, string[] expected) =>
        Assert.Equal(expected, TestSupport.Settings($"Host=h;Topology Keys={value}").TopologyKeys.Select(k => k.ToString()));

    [Theory]
    [InlineData("aws", "us-west", "us-west-2a", true)]
    [InlineData("AWS", "US-WEST", "US-West-2A", true)]
    [InlineData("aws", "us-west", "us-west-2b", false)]
    [InlineData("aws", "us-east", "us-west-2a", false)]
    [InlineData("gcp", "us-west", "us-west-2a", false)]
    [InlineData(null, "us-west", "us-west-2a", false)]
    [InlineData("aws", "us-west", null, false)]
    public void Topology_key_matching_is_case_insensitive(string? cloud, string? region, string? zone, bool matches)
    {
        Assert.Equal(matches, new TopologyKey("aws", "us-west", "us-west-2a", 1).Matches(cloud, region, zone));
        // The wildcard zone matches any zone of the region, even an unreported one.
        Assert.Equal(cloud is not null && region is not null && cloud.Equals("aws", StringComparison.OrdinalIgnoreCase) && region.Equals("us-west", StringComparison.OrdinalIgnoreCase),
            new TopologyKey("aws", "us-west", null, 1).Matches(cloud, region, zone));
    }

    public static TheoryData<string, string?, string[]> HostLists => new()
    {
        { "h", null, ["h:2521"] },
        { "h", "2522", ["h:2522"] },
        { "h1,h2:2522", "2521", ["h1:2521", "h2:2522"] },
        { " h1 , h2 ", null, ["h1:2521", "h2:2521"] },
        { "h1,h2", "1,2", ["h1:1", "h2:2"] },
        { "[::1]:2522,[::2]", null, ["[::1]:2522", "[::2]:2521"] },
        { "::1", null, ["[::1]:2521"] },
        { "fe80::1:2", "7", ["[fe80::1:2]:7"] },
        { "10.0.0.1:65535", null, ["10.0.0.1:65535"] },
    };

    [Theory]
    [MemberData(nameof(HostLists))]
    public void Host_lists(string hosts, string? ports, string[] expected) =>
        Assert.Equal(expected, HostAndPort.ParseList(hosts, ports).Select(h => h.ToString()));

    [Theory]
    [InlineData("h1,,h2", null)]
    [InlineData("h1,", null)]
    [InlineData("h:0", null)]
    [InlineData("h:65536", null)]
    [InlineData("h:abc", null)]
    [InlineData("h:", null)]
    [InlineData("h:-1", null)]
    [InlineData("[::1", null)]
    [InlineData("[::1]x", null)]
    [InlineData("[::1]:99999", null)]
    [InlineData("h", "0")]
    [InlineData("h", "x")]
    [InlineData("h1,h2,h3", "1,2")]
    public void Bad_host_lists_throw(string hosts, string? ports)
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => HostAndPort.ParseList(hosts, ports));
        Assert.Matches("'(Host|Port)'", e.Message);
    }
}
