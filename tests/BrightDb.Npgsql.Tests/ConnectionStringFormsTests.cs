using BrightDb.Npgsql.ConnectionStrings;
using Npgsql;

namespace BrightDb.Npgsql.Tests;

public class ConnectionStringFormsTests
{
    const string Zone = "aws.us-west.us-west-2a";

    public static TheoryData<string, string> SameSettings => new()
    {
        { "ado", $"Host=h1,h2:2522;Port=2521;Database=bigmath;Username=bigmath;Password=bigmath;Load Balance Hosts=true;Topology Keys={Zone}" },
        { "ado spaced, lower case", $"  host = h1,h2:2522 ; port = 2521 ; database = bigmath ; username = bigmath ; password = bigmath ; load balance hosts = true ; topology keys = {Zone} ;" },
        { "ado with libpq names", $"host=h1,h2:2522;port=2521;dbname=bigmath;user=bigmath;password=bigmath;load_balance=true;topology_keys={Zone}" },
        { "libpq", $"dbname=bigmath host=h1,h2:2522 port=2521 user=bigmath password=bigmath load_balance=true topology_keys={Zone}" },
        { "libpq quoted, spaces around =", $"dbname = 'bigmath'  host='h1,h2:2522' port = 2521 user=bigmath password='bigmath' load_balance='true' topology_keys = '{Zone}'" },
        { "libpq any keyword spelling", $"DBNAME=bigmath Host=h1,h2:2522 PORT=2521 User=bigmath Password=bigmath Load-Balance=true TopologyKeys={Zone}" },
        { "uri", $"postgresql://bigmath:bigmath@h1:2521,h2:2522/bigmath?load_balance=true&topology_keys={Zone}" },
        { "uri postgres scheme, port param", $"postgres://bigmath:bigmath@h1,h2:2522/bigmath?port=2521&load_balance=true&topology_keys={Zone}" },
        { "uri percent-encoded", $"postgresql://big%6Dath:%62igmath@h1:2521,h2:2522/%62igmath?load%5Fbalance=true&topology_keys={Uri.EscapeDataString(Zone)}" },
    };

    [Theory]
    [MemberData(nameof(SameSettings))]
    public void Every_form_gives_the_same_settings(string form, string connectionString)
    {
        var b = new BrightDbConnectionStringBuilder(connectionString);
        AssertExpected(b, form);
    }

    [Fact]
    public void Dictionary_form_gives_the_same_settings()
    {
        var b = new BrightDbConnectionStringBuilder(new Dictionary<string, object?>
        {
            ["dbname"] = "bigmath",
            ["host"] = "h1,h2:2522",
            ["port"] = 2521,
            ["user"] = "bigmath",
            ["password"] = "bigmath",
            ["load_balance"] = "True",
            ["topology_keys"] = Zone,
            ["application_name"] = null, // null values are skipped
        });
        AssertExpected(b, "dictionary");
        Assert.False(b.ContainsKey("Application Name"));
    }

    [Fact]
    public void Dictionary_form_takes_booleans_and_numbers()
    {
        var b = new BrightDbConnectionStringBuilder(new Dictionary<string, object?>
        {
            ["host"] = "h",
            ["load_balance"] = true,
            ["port"] = 2522,
            ["fallback_to_topology_keys_only"] = true,
            ["yb_servers_refresh_interval"] = 60L,
            ["failed_host_ttl_seconds"] = (short)7,
            ["connect_timeout"] = 3,
        });
        Assert.Equal(LoadBalanceMode.Any, b.LoadBalanceHosts);
        Assert.Equal(2522, b.Port);
        Assert.True(b.FallbackToTopologyKeysOnly);
        Assert.Equal(60, b.YBServersRefreshInterval);
        Assert.Equal(7, b.FailedHostReconnectDelaySecs);
        Assert.Equal(3, b.Timeout);
    }

    static void AssertExpected(BrightDbConnectionStringBuilder b, string form)
    {
        Assert.True(b.Host is "h1,h2:2522" or "h1:2521,h2:2522", form);
        Assert.Equal("bigmath", b.Database);
        Assert.Equal("bigmath", b.Username);
        Assert.Equal("bigmath", b.Password);
        Assert.Equal(LoadBalanceMode.Any, b.LoadBalanceHosts);
        Assert.Equal(Zone, b.TopologyKeys);

        var s = BrightDbSettings.From(b);
        Assert.Equal([new HostAndPort("h1", 2521), new HostAndPort("h2", 2522)], s.ListedHosts);
        Assert.Equal(LoadBalanceMode.Any, s.LoadBalance);
        Assert.Equal([new TopologyKey("aws", "us-west", "us-west-2a", 1)], s.TopologyKeys);
        Assert.Equal(TimeSpan.FromSeconds(300), s.RefreshInterval);
        Assert.Equal(TimeSpan.FromSeconds(5), s.ReconnectDelay);
        Assert.False(s.FallbackToTopologyKeysOnly);
    }

    public static TheoryData<string, string> LibpqQuoting => new()
    {
        { @"host=h password='a b\'c'", "a b'c" },
        { @"host=h password='back\\slash'", @"back\slash" },
        { @"host=h password=''", "" },
        { @"host=h password='semi;colon'", "semi;colon" },
        { @"host=h password='a;b' user=u", "a;b" },
        { @"host=h password='x=y z'", "x=y z" },
        { @"host=h password=esc\ aped", "esc aped" },
        { @"host=h password = 'spaced'", "spaced" },
        { "host=h\tpassword='tab'\n", "tab" },
        { @"host=h password='é ü'", "é ü" },
    };

    [Theory]
    [MemberData(nameof(LibpqQuoting))]
    public void Libpq_quoted_values(string connectionString, string password)
    {
        var b = new BrightDbConnectionStringBuilder(connectionString);
        Assert.Equal(password, b.Password);
        Assert.Equal("h", b.Host);
    }

    public static TheoryData<string, string, string?, string?, string?> Uris => new()
    {
        // uri, host, user, password, database
        { "postgresql://h", "h", null, null, null },
        { "postgresql://u@h/db", "h", "u", null, "db" },
        { "postgresql://u:@h/db", "h", "u", "", "db" },
        { "postgresql://u:p%40ss%3Aw%2Fo%3Frd@h/db", "h", "u", "p@ss:w/o?rd", "db" },
        { "postgresql://u:p@ss@h/db", "h", "u", "p@ss", "db" },
        { "postgresql://%75ser:pw@h:2522/my%20db", "h:2522", "user", "pw", "my db" },
        { "postgresql://u:pw@[::1]:2522,[fe80::1%25eth0]/db", "[::1]:2522,[fe80::1%eth0]", "u", "pw", "db" },
        { "postgresql://u@h1,h2,h3/db?application_name=my%20app", "h1,h2,h3", "u", null, "db" },
        { "POSTGRESQL://u@H/db", "H", "u", null, "db" },
    };

    [Theory]
    [MemberData(nameof(Uris))]
    public void Uri_form(string uri, string host, string? user, string? password, string? database)
    {
        var b = new BrightDbConnectionStringBuilder(uri);
        Assert.Equal(host, b.Host);
        Assert.Equal(user, b.Username);
        Assert.Equal(password, b.Password);
        Assert.Equal(database, b.Database);
    }

    [Fact]
    public void Uri_with_ipv6_hosts_gives_bracket_free_addresses()
    {
        var s = TestSupport.Settings("postgresql://u:pw@[::1]:2522,[fe80::2],h3:7/db?load_balance=true");
        Assert.Equal([new HostAndPort("::1", 2522), new HostAndPort("fe80::2", 2521), new HostAndPort("h3", 7)], s.ListedHosts);
        Assert.Equal("[::1]:2522", s.ListedHosts[0].ToString());
    }

    [Fact]
    public void Uri_query_parameters_are_keywords()
    {
        var b = new BrightDbConnectionStringBuilder(
            "postgresql://u@h/db?load_balance=prefer-rr&yb_servers_refresh_interval=0&failed_host_reconnect_delay_secs=60" +
            "&fallback_to_topology_keys_only=true&topology_keys=a.b.c%3A2&sslmode=disable&connect_timeout=4&application_name=x%26y");
        Assert.Equal(LoadBalanceMode.PreferReadReplica, b.LoadBalanceHosts);
        Assert.Equal(0, b.YBServersRefreshInterval);
        Assert.Equal(60, b.FailedHostReconnectDelaySecs);
        Assert.True(b.FallbackToTopologyKeysOnly);
        Assert.Equal("a.b.c:2", b.TopologyKeys);
        Assert.Equal("Disable", (string)b["SSL Mode"], ignoreCase: true);
        Assert.Equal(4, b.Timeout);
        Assert.Equal("x&y", (string)b["Application Name"]);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    public void Empty_string_is_an_empty_builder(string text) => Assert.Empty(new BrightDbConnectionStringBuilder(text).Keys.Cast<string>());

    [Theory]
    [InlineData("Load Balance Hosts=true")]
    [InlineData("Application Name=my app")]
    public void Single_ado_pair_with_spaces_is_ado(string text) => Assert.Single(new BrightDbConnectionStringBuilder(text).Keys.Cast<string>());

    [Theory]
    [InlineData("postgresql://u:zq/xk@h1/db")]
    [InlineData("postgresql://u:zq?xk@h1/db")]
    [InlineData("postgresql://u:zq/xk@h1:2521,h2/db?load_balance=true")]
    [InlineData("postgresql://u:zq#/xk@h1/db")]
    public void Uri_with_an_unencoded_slash_or_question_mark_in_the_password_shows_none_of_it(string uri)
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => TestSupport.Settings(uri));
        Assert.DoesNotContain("zq", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("xk", e.Message, StringComparison.Ordinal);
        Assert.Contains("percent-encode", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("postgresql://h:2521/db?application_name=me%40box", "h:2521")]
    [InlineData("postgresql://h:2521/db?application_name=me@box", "h:2521")]
    [InlineData("postgresql://h1,h2:7/d@b", "h1,h2:7")]
    [InlineData("postgresql://[::1]:2521/db?application_name=a@b", "[::1]:2521")]
    public void Uri_with_an_at_sign_after_the_hosts_is_fine_when_the_hosts_are(string uri, string host) =>
        Assert.Equal(host, new BrightDbConnectionStringBuilder(uri).Host);

    [Theory]
    [InlineData("host=h password=a b user=u")]
    [InlineData("host=h user=u password=ab cd")]
    [InlineData("dbname=db host=h password=x y=z w")]
    public void Libpq_value_with_an_unquoted_space_is_rejected_without_its_value(string text)
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => new BrightDbConnectionStringBuilder(text));
        Assert.Contains("quoted", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("password=", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Ado_quoted_value_with_semicolon()
    {
        var b = new BrightDbConnectionStringBuilder("Host=h;Password=\"a;b\";Username=u");
        Assert.Equal("a;b", b.Password);
        Assert.Equal("u", b.Username);
    }

    [Theory]
    [InlineData("Password=\"a b='c\";Host=h", "a b='c")]
    [InlineData("Password='a\"b\\';Host=h", "a\"b\\")]
    [InlineData("pwd=\"x y='9\";Host=h;Username=u", "x y='9")]
    public void Ado_string_whose_first_value_reads_as_an_unclosed_libpq_quote_is_ado(string text, string password)
    {
        var b = new BrightDbConnectionStringBuilder(text);
        Assert.Equal(password, b.Password);
        Assert.Equal("h", b.Host);
    }

    [Fact]
    public void Ado_value_with_apostrophe_then_semicolon_is_ado()
    {
        var b = new BrightDbConnectionStringBuilder("Application Name=it's;Host=h");
        Assert.Equal("it's", (string)b["Application Name"]);
        Assert.Equal("h", b.Host);
    }
}
