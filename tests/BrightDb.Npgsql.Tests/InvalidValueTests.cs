using BrightDb.Npgsql.ConnectionStrings;

namespace BrightDb.Npgsql.Tests;

public class InvalidValueTests
{
    /// <summary>keyword as written, value, canonical keyword the message must name, a word of what is accepted.</summary>
    public static TheoryData<string, string, string, string> BadValues => new()
    {
        { "load_balance", "maybe", Keywords.LoadBalanceHosts, "only-primary" },
        { "Load Balance Hosts", "", Keywords.LoadBalanceHosts, "prefer-rr" },
        { "load_balance", "primary", Keywords.LoadBalanceHosts, "only-rr" },
        { "topology_keys", "aws", Keywords.TopologyKeys, "cloud.region.zone" },
        { "topology_keys", "aws.us-west", Keywords.TopologyKeys, "cloud.region.zone" },
        { "topology_keys", "a.b.c.d", Keywords.TopologyKeys, "cloud.region.zone" },
        { "topology_keys", "aws.us-west.us-west-2a:11", Keywords.TopologyKeys, "1 to 10" },
        { "topology_keys", "aws.us-west.us-west-2a:0", Keywords.TopologyKeys, "1 to 10" },
        { "topology_keys", "aws.us-west.us-west-2a:-1", Keywords.TopologyKeys, "1 to 10" },
        { "topology_keys", "aws.us-west.us-west-2a:x", Keywords.TopologyKeys, "1 to 10" },
        { "topology_keys", "aws.us-west.us-west-2a:", Keywords.TopologyKeys, "1 to 10" },
        { "topology_keys", "aws.us-west.us-west-2a:1:2", Keywords.TopologyKeys, "cloud.region.zone" },
        { "topology_keys", "a.*.z", Keywords.TopologyKeys, "'*'" },
        { "topology_keys", "*.r.z", Keywords.TopologyKeys, "'*'" },
        { "topology_keys", "*.*.*", Keywords.TopologyKeys, "'*'" },
        { "topology_keys", "a.b.c,,d.e.f", Keywords.TopologyKeys, "cloud.region.zone" },
        { "topology_keys", "a.b.c,", Keywords.TopologyKeys, "cloud.region.zone" },
        { "topology_keys", "a..c", Keywords.TopologyKeys, "cloud.region.zone" },
        { "yb_servers_refresh_interval", "700", Keywords.YBServersRefreshInterval, "0 to 600" },
        { "yb_servers_refresh_interval", "601", Keywords.YBServersRefreshInterval, "0 to 600" },
        { "yb_servers_refresh_interval", "-1", Keywords.YBServersRefreshInterval, "0 to 600" },
        { "yb_servers_refresh_interval", "abc", Keywords.YBServersRefreshInterval, "0 to 600" },
        { "yb_servers_refresh_interval", "1.5", Keywords.YBServersRefreshInterval, "0 to 600" },
        { "failed_host_reconnect_delay_secs", "61", Keywords.FailedHostReconnectDelaySecs, "0 to 60" },
        { "failed_host_ttl_seconds", "-5", Keywords.FailedHostReconnectDelaySecs, "0 to 60" },
        { "fallback_to_topology_keys_only", "perhaps", Keywords.FallbackToTopologyKeysOnly, "true or false" },
        { "Port", "abc", "Port", "" },
        { "port", "99999999999", "Port", "" },
        { "Timeout", "soon", "Timeout", "" },
        { "sslmode", "sometimes", "SSL Mode", "" },
        { "Maximum Pool Size", "-3", "Maximum Pool Size", "" },
    };

    [Theory]
    [MemberData(nameof(BadValues))]
    public void Bad_value_names_keyword_value_and_what_is_accepted(string keyword, string value, string canonical, string accepted)
    {
        foreach (var attempt in Attempts(keyword, value))
        {
            var e = Assert.ThrowsAny<ArgumentException>(attempt);
            Assert.Contains($"'{canonical}'", e.Message, StringComparison.Ordinal);
            Assert.Contains($"'{value}'", e.Message, StringComparison.Ordinal);
            Assert.Contains(accepted, e.Message, StringComparison.Ordinal);
        }
    }

    static IEnumerable<Action> Attempts(string keyword, string value)
    {
        yield return () => _ = new BrightDbConnectionStringBuilder { [keyword] = value };
        yield return () => _ = new BrightDbConnectionStringBuilder(new Dictionary<string, object?> { ["host"] = "h", [keyword] = value });
        yield return () => _ = new BrightDbConnectionStringBuilder($"Host=h;{keyword}=\"{value}\"");
        if (!keyword.Contains(' ', StringComparison.Ordinal))
        {
            yield return () => _ = new BrightDbConnectionStringBuilder($"host=h {keyword}='{value}'");
            yield return () => _ = new BrightDbConnectionStringBuilder($"postgresql://u:pw@h/db?{keyword}={Uri.EscapeDataString(value)}");
        }
    }

    [Theory]
    [InlineData("Host=h;Frobnicate=1", "Frobnicate")]
    [InlineData("host=h load_balanse=true", "load_balanse")]
    [InlineData("postgresql://h/db?topology_key=a.b.c", "topology_key")]
    [InlineData("Host=h;Load Balancing=true", "Load Balancing")]
    public void Unknown_keyword_is_named(string text, string keyword)
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => new BrightDbConnectionStringBuilder(text));
        // Keywords are case-insensitive, and the ADO.NET parser hands them over in lower case.
        Assert.Contains($"'{keyword}'", e.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("Load Balance Hosts", e.Message, StringComparison.Ordinal); // lists what is accepted
    }

    [Fact]
    public void Unknown_keyword_in_dictionary_is_named()
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => new BrightDbConnectionStringBuilder(new Dictionary<string, object?> { ["weird"] = 1 }));
        Assert.Contains("'weird'", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Host=h:0")]
    [InlineData("Host=h:70000")]
    [InlineData("Host=h1,h2:x")]
    [InlineData("host=h port=0")]
    [InlineData("host=h port=70000")]
    [InlineData("postgresql://h:0/db")]
    [InlineData("postgresql://h:abc/db")]
    [InlineData("Host=h1,,h2")]
    public void Bad_ports_and_hosts_throw_argument_exception(string text)
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => TestSupport.Settings(text));
        Assert.Matches("(Host|Port)", e.Message);
    }

    [Theory]
    [InlineData("Database=d")]
    [InlineData("")]
    [InlineData("Host= ")]
    public void No_host_throws(string text) =>
        Assert.ThrowsAny<ArgumentException>(() => TestSupport.Settings(text));

    [Theory]
    [InlineData("Host=h;Load Balance Hosts=true;Target Session Attributes=primary")]
    [InlineData("host=h load_balance=true target_session_attrs=read-write")]
    public void Target_session_attributes_conflict_with_balancing(string text)
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => TestSupport.Settings(text));
        Assert.Contains("Target Session Attributes", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Host=h;Password=\"abc")]
    [InlineData("host=h password='abc")]
    [InlineData("postgresql://u@h/db?application_name")]
    [InlineData("postgresql://u@h1,,h2/db")]
    public void Malformed_strings_throw_argument_exception(string text) =>
        Assert.ThrowsAny<ArgumentException>(() => new BrightDbConnectionStringBuilder(text));

    [Fact]
    public void Null_arguments_throw_argument_null_exception()
    {
        Assert.Throws<ArgumentNullException>(() => new BrightDbConnectionStringBuilder((string)null!));
        Assert.Throws<ArgumentNullException>(() => new BrightDbConnectionStringBuilder((IReadOnlyDictionary<string, object?>)null!));
        Assert.Throws<ArgumentNullException>(() => BrightDbSettings.From(null!));
    }
}
