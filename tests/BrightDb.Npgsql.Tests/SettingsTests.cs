using BrightDb.Npgsql.ConnectionStrings;
using Npgsql;

namespace BrightDb.Npgsql.Tests;

public class SettingsTests
{
    const string Full =
        "Host=h1,h2:2522,[::1]:2523;Port=2521;Database=bigmath;Username=bigmath;Password=secret-pw;Load Balance Hosts=prefer-rr;" +
        "Topology Keys=aws.us-west.us-west-2a:1,aws.us-west.*:2;YB Servers Refresh Interval=10;Failed Host Reconnect Delay Secs=3;" +
        "Fallback To Topology Keys Only=true;Maximum Pool Size=7;Timeout=4;Application Name=app;SSL Password=ssl-secret";

    static readonly string[] DriverWords =
        ["topology", "yb servers", "reconnect", "fallback", "load balance", "loadbalance", "refresh", "hedged"];

    static void AssertNoDriverKeyword(string connectionString)
    {
        foreach (var word in DriverWords)
            Assert.DoesNotContain(word, connectionString, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Settings_from_a_full_string()
    {
        var s = TestSupport.Settings(Full);
        Assert.Equal(LoadBalanceMode.PreferReadReplica, s.LoadBalance);
        Assert.Equal([new TopologyKey("aws", "us-west", "us-west-2a", 1), new TopologyKey("aws", "us-west", null, 2)], s.TopologyKeys);
        Assert.Equal(TimeSpan.FromSeconds(10), s.RefreshInterval);
        Assert.Equal(TimeSpan.FromSeconds(3), s.ReconnectDelay);
        Assert.True(s.FallbackToTopologyKeysOnly);
        Assert.Equal(7, s.MaxPoolSize);
        Assert.Equal(TimeSpan.FromSeconds(4), s.ConnectTimeout);
        Assert.Equal([new HostAndPort("h1", 2521), new HostAndPort("h2", 2522), new HostAndPort("::1", 2523)], s.ListedHosts);
    }

    [Theory]
    [InlineData("h1", 2521)]
    [InlineData("10.1.2.3", 2522)]
    [InlineData("::1", 65535)]
    public void ForServer_is_a_single_host_npgsql_string(string host, int port)
    {
        var text = TestSupport.Settings(Full).ForServer(host, port);
        AssertNoDriverKeyword(text);
        var npgsql = new NpgsqlConnectionStringBuilder(text);
        Assert.Equal(host, npgsql.Host);
        Assert.Equal(port, npgsql.Port);
        Assert.Equal("secret-pw", npgsql.Password);
        Assert.Equal("bigmath", npgsql.Database);
        Assert.Equal("bigmath", npgsql.Username);
        Assert.Equal(7, npgsql.MaxPoolSize);
        Assert.Equal("app", npgsql.ApplicationName);
        Assert.Null(npgsql.TargetSessionAttributes);
        Assert.False(npgsql.LoadBalanceHosts);
        using var ds = new NpgsqlDataSourceBuilder(text).Build();
    }

    [Fact]
    public void ForServer_with_fallbacks_lists_the_server_first_then_its_fallbacks_for_npgsql_failover()
    {
        var text = TestSupport.Settings(Full).ForServer(new HostAndPort("h1", 2521), [new HostAndPort("::1", 2523), new HostAndPort("h2", 2522)]);
        AssertNoDriverKeyword(text);
        var npgsql = new NpgsqlConnectionStringBuilder(text);
        Assert.Equal("h1:2521,[::1]:2523,h2:2522", npgsql.Host);
        Assert.Null(npgsql.TargetSessionAttributes);
        Assert.False(npgsql.LoadBalanceHosts);
        // Npgsql checks a server's idle connections once a second (the driver's watch covers the time in between), unless the
        // application says otherwise.
        Assert.Equal(1, npgsql.HostRecheckSeconds);
        using var ds = new NpgsqlDataSourceBuilder(text).BuildMultiHost();
    }

    [Theory]
    [InlineData(15, 0, 15, 2)]
    [InlineData(15, 1, 7, 2)]
    [InlineData(15, 2, 5, 2)]
    [InlineData(3, 1, 1, 2)]
    [InlineData(3, 2, 1, 2)]
    [InlineData(2, 1, 1, 1)]
    [InlineData(1, 0, 1, 0)]
    [InlineData(0, 2, 0, 2)]
    public void Each_host_of_a_servers_list_gets_its_share_of_Timeout(int timeout, int fallbacks, int perHost, int maxFallbacks)
    {
        var settings = TestSupport.Settings($"Host=h;Load Balance Hosts=true;Timeout={timeout}");
        Assert.Equal(maxFallbacks, settings.MaxFallbacks);
        var text = settings.ForServer(new HostAndPort("h1", 2521), [.. Enumerable.Range(2, fallbacks).Select(i => new HostAndPort($"h{i}", 2521))]);
        // Npgsql gives each host of a list the whole Timeout: the list as a whole stays within the application's.
        Assert.Equal(perHost, new NpgsqlConnectionStringBuilder(text).Timeout);
        Assert.True(timeout == 0 || perHost * (1 + fallbacks) <= timeout);
    }

    [Theory]
    [InlineData("Host=h;Load Balance Hosts=true", true)]
    [InlineData("Host=h;Load Balance Hosts=true;Pooling=false", false)]
    [InlineData("Host=h;Load Balance Hosts=true;Host Recheck Seconds=1", true)]
    [InlineData("host=h load_balance=true host_recheck_seconds=30", true)]
    [InlineData("Host=h;Load Balance Hosts=true;Host Recheck Seconds=1;Pooling=false", false)]
    [InlineData("Host=h;Load Balance Hosts=true;Host Recheck Seconds=0", false)]
    public void Servers_are_watched_when_pooled_and_idle_connections_are_not_checked_on_every_open(string connectionString, bool expected) =>
        Assert.Equal(expected, TestSupport.Settings(connectionString).WatchServers);

    [Theory]
    [InlineData("Host=h;Load Balance Hosts=true", 1)]
    [InlineData("Host=h;Load Balance Hosts=true;Pooling=false", 0)]
    [InlineData("Host=h;Load Balance Hosts=true;Host Recheck Seconds=0", 0)]
    [InlineData("Host=h;Load Balance Hosts=true;Host Recheck Seconds=30", 30)]
    [InlineData("host=h load_balance=true host_recheck_seconds=7", 7)]
    [InlineData("Host=h", 10)]
    public void Idle_connections_are_checked_once_a_second_per_server_when_pooled_and_balancing_unless_the_application_sets_Host_Recheck_Seconds(string connectionString, int expected)
    {
        var s = TestSupport.Settings(connectionString);
        var text = s.LoadBalance == LoadBalanceMode.Disabled ? s.NpgsqlConnectionString(includePassword: false) : s.ForServer("h", 2521);
        Assert.Equal(expected, new NpgsqlConnectionStringBuilder(text).HostRecheckSeconds);
    }

    [Theory]
    [InlineData("Host=h;Load Balance Hosts=true", 15, 1)]
    [InlineData("Host=h;Load Balance Hosts=true;Connection Idle Lifetime=120", 120, 1)]
    [InlineData("Host=h;Load Balance Hosts=true;Connection Pruning Interval=30", 30, 30)]
    [InlineData("Host=h;Load Balance Hosts=true;Connection Idle Lifetime=60;Connection Pruning Interval=20", 60, 20)]
    [InlineData("host=h load_balance=true", 15, 1)]
    [InlineData("Host=h;Load Balance Hosts=true;Pooling=false", 300, 10)]
    [InlineData("Host=h", 300, 10)]
    public void Balanced_pools_close_idle_connections_after_15_s_unless_the_application_sets_the_idle_lifetime(
        string connectionString, int idleLifetime, int pruningInterval)
    {
        var s = TestSupport.Settings(connectionString);
        var text = s.LoadBalance == LoadBalanceMode.Disabled ? s.NpgsqlConnectionString(includePassword: false) : s.ForServer("h", 2521);
        var npgsql = new NpgsqlConnectionStringBuilder(text);
        Assert.Equal(idleLifetime, npgsql.ConnectionIdleLifetime);
        Assert.Equal(pruningInterval, npgsql.ConnectionPruningInterval);
        // Npgsql accepts the pair (the pruning interval may not exceed the idle lifetime).
        using var ds = new NpgsqlDataSourceBuilder(text).BuildMultiHost();
        using var connection = ds.CreateConnection();
    }

    [Fact]
    public void NpgsqlConnectionString_lists_every_host_and_takes_the_password_only_when_asked()
    {
        var s = TestSupport.Settings(Full);
        foreach (var includePassword in new[] { true, false })
        {
            var text = s.NpgsqlConnectionString(includePassword);
            AssertNoDriverKeyword(text);
            var npgsql = new NpgsqlConnectionStringBuilder(text);
            Assert.Equal("h1:2521,h2:2522,[::1]:2523", npgsql.Host);
            Assert.Equal(includePassword ? "secret-pw" : null, npgsql.Password);
            Assert.Equal(includePassword, text.Contains("secret-pw", StringComparison.Ordinal));
            using var ds = new NpgsqlDataSourceBuilder(text).Build();
        }
    }

    [Theory]
    [InlineData(Full)]
    [InlineData("host=h1,h2 dbname=d user=u password=secret-pw load_balance=true topology_keys=a.b.c sslpassword=ssl-secret")]
    [InlineData("postgresql://u:secret-pw@h1,h2/d?load_balance=only-primary&yb_servers_refresh_interval=0&sslpassword=ssl-secret")]
    [InlineData("Host=h1;Password=secret-pw;Load Balance Hosts=false;SSL Password=ssl-secret")]
    public void DataSource_connection_string_has_no_password_and_no_driver_keyword(string text)
    {
        using var ds = BrightDbDataSource.Create(text);
        var cs = ds.ConnectionString;
        Assert.DoesNotContain("secret-pw", cs, StringComparison.Ordinal);
        Assert.DoesNotContain("ssl-secret", cs, StringComparison.Ordinal);
        AssertNoDriverKeyword(cs);
        Assert.StartsWith("h1", new NpgsqlConnectionStringBuilder(cs).Host, StringComparison.Ordinal);
    }

    [Fact]
    public void DataSource_from_a_dictionary()
    {
        using var ds = BrightDbDataSource.Create(new Dictionary<string, object?>
        {
            ["host"] = "127.0.0.1", ["port"] = "2521", ["user"] = "bigmath", ["password"] = "bigmath", ["dbname"] = "bigmath", ["load_balance"] = "True",
        });
        Assert.Equal(LoadBalanceMode.Any, ds.LoadBalanceHosts);
        Assert.Null(ds.Topology);
        Assert.DoesNotContain("bigmath;", ds.ConnectionString.Replace("Database=bigmath;", "", StringComparison.Ordinal).Replace("Username=bigmath;", "", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.Null(new NpgsqlConnectionStringBuilder(ds.ConnectionString).Password);
    }

    [Fact]
    public void Persist_security_info_keeps_the_password_as_npgsql_does()
    {
        using var ds = BrightDbDataSource.Create("Host=h;Password=secret-pw;Persist Security Info=true;Load Balance Hosts=true");
        Assert.Equal("secret-pw", new NpgsqlConnectionStringBuilder(ds.ConnectionString).Password);
    }

    [Fact]
    public void ToString_masks_passwords_and_keeps_the_rest()
    {
        var b = new BrightDbConnectionStringBuilder(Full);
        var shown = b.ToString();
        Assert.DoesNotContain("secret-pw", shown, StringComparison.Ordinal);
        Assert.DoesNotContain("ssl-secret", shown, StringComparison.Ordinal);
        Assert.Contains("***", shown, StringComparison.Ordinal);
        var back = new BrightDbConnectionStringBuilder(shown);
        Assert.Equal("***", back.Password);
        Assert.Equal(b.TopologyKeys, back.TopologyKeys);
        Assert.Equal(b.LoadBalanceHosts, back.LoadBalanceHosts);
        Assert.Equal(b.Host, back.Host);
    }

    [Fact]
    public void Builder_connection_string_round_trips()
    {
        var b = new BrightDbConnectionStringBuilder(Full);
        var again = new BrightDbConnectionStringBuilder(b.ConnectionString);
        Assert.Equal(b.Count, again.Count);
        foreach (string key in b.Keys)
            Assert.Equal(b[key], again[key]);
    }

    [Theory]
    [InlineData("host=h1,h2 port=2521,2522 user=u")]
    [InlineData("Host=h1,h2;Port=2521,2522;Username=u")]
    [InlineData("postgresql://u@h1,h2?port=2521,2522")]
    public void A_port_per_listed_host_as_libpq_allows(string connectionString)
    {
        var builder = new BrightDbConnectionStringBuilder(connectionString);
        Assert.Equal(2521, builder.Port);
        var s = BrightDb.Npgsql.ConnectionStrings.BrightDbSettings.From(builder);
        Assert.Equal([new HostAndPort("h1", 2521), new HostAndPort("h2", 2522)], s.ListedHosts);
    }

    [Theory]
    [InlineData("host=h1,h2 port=2521,x")]
    [InlineData("host=h1,h2 port=2521,70000")]
    [InlineData("host=h1,h2 port=2521,")]
    public void A_bad_port_list_is_rejected_naming_the_keyword(string connectionString)
    {
        var e = Assert.Throws<ArgumentException>(() => new BrightDbConnectionStringBuilder(connectionString));
        Assert.Contains("'Port'", e.Message);
    }

    [Fact]
    public void A_port_list_must_match_the_host_count()
    {
        var builder = new BrightDbConnectionStringBuilder("host=h1,h2,h3 port=2521,2522");
        var e = Assert.Throws<ArgumentException>(() => BrightDb.Npgsql.ConnectionStrings.BrightDbSettings.From(builder));
        Assert.Contains("Port", e.Message);
    }

    [Fact]
    public void GSS_encryption_is_off_unless_the_application_asks_for_it()
    {
        var off = BrightDb.Npgsql.ConnectionStrings.BrightDbSettings.From(new BrightDbConnectionStringBuilder("host=h user=u"));
        Assert.Equal(GssEncryptionMode.Disable, new NpgsqlConnectionStringBuilder(off.ForServer("h", 2521)).GssEncryptionMode);
        var asked = BrightDb.Npgsql.ConnectionStrings.BrightDbSettings.From(new BrightDbConnectionStringBuilder("host=h user=u gssencmode=require"));
        Assert.Equal(GssEncryptionMode.Require, new NpgsqlConnectionStringBuilder(asked.ForServer("h", 2521)).GssEncryptionMode);
    }
}
