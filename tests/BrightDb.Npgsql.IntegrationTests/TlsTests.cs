using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using BrightDb.LocalCluster;
using BrightDb.Npgsql.IntegrationTests.Support;
using Npgsql;
using Xunit.Abstractions;

namespace BrightDb.Npgsql.IntegrationTests;

/// <remarks>
/// Hedging is for hung servers: a TLS handshake on a loaded test machine can outlast its 2 s default on a healthy server,
/// which would be suspected and skew the counts asserted here, so it waits longer (as in the other balance tests).
/// </remarks>
/// <summary>
/// <c>SSL Mode=VerifyFull</c> against servers discovered through <c>yb_servers()</c>, on a TLS local cluster whose node 2
/// has a certificate naming another address: every connection to the other servers is verified against the address it
/// goes to; node 2 is refused with an error that names it and says why, marked down, and never used in plain text.
/// </summary>
public sealed class TlsTests(ITestOutputHelper output) : IAsyncLifetime
{
    LocalCluster.LocalCluster _cluster = null!;

    public async Task InitializeAsync() =>
        _cluster = await LocalCluster.LocalCluster.StartAsync(new LocalClusterOptions
        {
            Nodes = [.. new[] { "aws.us-west.us-west-2a", "aws.us-west.us-west-2b", "aws.us-west.us-west-2c" }.Select(p => new NodeSpec(Placement.Parse(p)))],
            Tls = true,
            TlsWrongCertificateNodes = [2],
        });

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    internal static async Task<List<(string Host, bool Ssl)>> OpenAndCheckAsync(BrightDbDataSource ds, int count, List<NpgsqlConnection> held)
    {
        var seen = new List<(string, bool)>();
        for (var i = 0; i < count; i++)
        {
            var connection = i % 2 == 0 ? await ds.OpenConnectionAsync() : await OpenCreatedAsync(ds);
            held.Add(connection);
            await using var command = new NpgsqlCommand("select ssl from pg_stat_ssl where pid = pg_backend_pid()", connection);
            seen.Add((connection.Host!, (bool)(await command.ExecuteScalarAsync())!));
        }

        return seen;
    }

    /// <summary>A connection of <c>CreateConnection()</c>, opened as EF Core or Dapper would.</summary>
    internal static async Task<NpgsqlConnection> OpenCreatedAsync(BrightDbDataSource ds)
    {
        var created = ds.CreateConnection();
        await created.OpenAsync();
        return created;
    }

    [Theory]
    [InlineData("ADO.NET")]
    [InlineData("libpq")]
    public async Task VerifyFull_checks_every_discovered_server_and_a_wrong_certificate_is_refused_and_marked_down(string form)
    {
        var app = "tls-" + form.Replace(".", "", StringComparison.Ordinal).ToLowerInvariant();
        var (n1, n2) = (_cluster.Node(1), _cluster.Node(2));
        var root = _cluster.TlsRootCertificateFile!;
        var connectionString = form == "libpq"
            ? $"host={n1.Host} port={n1.Port} dbname=bigmath user=bigmath password={_cluster.Password} load_balance=true application_name={app} " +
              $"sslmode=verify-full sslrootcert={root} failed_host_reconnect_delay_secs=60 hedged_open_delay=10000"
            : $"Host={n1.Host};Port={n1.Port};Database=bigmath;Username=bigmath;Password={_cluster.Password};Load Balance Hosts=true;" +
              $"Application Name={app};SSL Mode=VerifyFull;Root Certificate={root};Failed Host Reconnect Delay Secs=60;Hedged Open Delay=10000";
        var logs = new LogRecorder(output);
        await using var ds = new BrightDbDataSourceBuilder(connectionString).UseLoggerFactory(logs).Build();
        var markedDown = new List<string>();
        ds.HostMarkedDown += (_, e) => { lock (markedDown) markedDown.Add($"{e.Host}: {e.Reason}"); };

        var held = new List<NpgsqlConnection>();
        try
        {
            var seen = await OpenAndCheckAsync(ds, 30, held);
            output.WriteLine($"{form}: connections on {string.Join(", ", seen.GroupBy(s => s.Host).Select(g => $"{g.Key} x{g.Count()}"))}; marked down: {string.Join(" | ", markedDown)}");

            var verdict = new Verdict();
            verdict.Check(seen.All(s => s.Ssl), "a connection is not encrypted");
            verdict.Check(seen.All(s => s.Host != n2.Host), $"a connection went to {n2.Host}, whose certificate names another address");
            verdict.Equal("15/0/15", await Counts.ServerEventuallyAsync(_cluster, app, "15/0/15"), "the servers' counts");
            verdict.Check(markedDown.Count == 1 && markedDown[0].StartsWith(n2.Host, StringComparison.Ordinal),
                $"node 2 was not marked down once: {string.Join(" | ", markedDown)}");
            // Why: the certificate, in the failover log (event 3005, or 3001/3003 when the driver's own open failed there).
            await ClusterWaits.UntilAsync(
                () => Task.FromResult(logs.Entries.Any(e => e.IsDriver && e.EventId.Id is 3001 or 3003 or 3005 && e.Message.Contains(n2.Host, StringComparison.Ordinal)
                                                            && e.Message.Contains("certificate", StringComparison.OrdinalIgnoreCase))),
                "a failover log entry naming node 2 and its certificate", seconds: 10);
            verdict.Assert(ds);
        }
        finally
        {
            await Counts.DisposeAllAsync(held);
        }

        // With only node 2 eligible, the error names it and says why.
        await using var only2 = BrightDbDataSource.Create(
            $"Host={n1.Host};Port={n1.Port};Database=bigmath;Username=bigmath;Password={_cluster.Password};Load Balance Hosts=true;" +
            $"SSL Mode=VerifyFull;Root Certificate={root};Topology Keys=aws.us-west.us-west-2b;Fallback To Topology Keys Only=true");
        var error = await Assert.ThrowsAnyAsync<Exception>(async () => await only2.OpenConnectionAsync());
        output.WriteLine($"only node 2 eligible: {error.GetType().Name}: {error.Message}");
        Assert.Contains($"{n2.Host}:{n2.Port}", error.Message, StringComparison.Ordinal);
        Assert.Contains("certificate", error.Message, StringComparison.OrdinalIgnoreCase);
    }
}

/// <summary>
/// A TLS cluster whose three certificates are right: <c>SSL Mode=VerifyFull</c> balances 10/10/10 in every form, every
/// connection encrypted; with the client certificate of user bigmath (<c>SSL Certificate</c>/<c>SSL Key</c>) every
/// discovered server receives and verifies it, and a certificate the cluster did not sign is refused by every server.
/// </summary>
public sealed class TlsVerifyFullTests(ITestOutputHelper output) : IAsyncLifetime
{
    LocalCluster.LocalCluster _cluster = null!;

    public async Task InitializeAsync() =>
        _cluster = await LocalCluster.LocalCluster.StartAsync(new LocalClusterOptions
        {
            Nodes = [.. new[] { "aws.us-west.us-west-2a", "aws.us-west.us-west-2b", "aws.us-west.us-west-2c" }.Select(p => new NodeSpec(Placement.Parse(p)))],
            Tls = true,
        });

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Theory]
    [InlineData("ADO.NET")]
    [InlineData("libpq")]
    [InlineData("URI")]
    public async Task Thirty_verified_connections_are_10_10_10_and_each_is_encrypted(string form)
    {
        var app = "tls-all-" + form.Replace(".", "", StringComparison.Ordinal).ToLowerInvariant();
        var n1 = _cluster.Node(1);
        var root = _cluster.TlsRootCertificateFile!;
        var connectionString = form switch
        {
            "libpq" => $"host={n1.Host} port={n1.Port} dbname=bigmath user=bigmath password={_cluster.Password} load_balance=true " +
                       $"application_name={app} sslmode=verify-full sslrootcert={root} hedged_open_delay=10000",
            "URI" => $"postgresql://bigmath:{_cluster.Password}@{n1.Host}:{n1.Port}/bigmath?load_balance=true&application_name={app}" +
                     $"&sslmode=verify-full&sslrootcert={Uri.EscapeDataString(root)}&hedged_open_delay=10000",
            _ => $"Host={n1.Host};Port={n1.Port};Database=bigmath;Username=bigmath;Password={_cluster.Password};Load Balance Hosts=true;" +
                 $"Application Name={app};SSL Mode=VerifyFull;Root Certificate={root};Hedged Open Delay=10000",
        };
        await using var ds = BrightDbDataSource.Create(connectionString);
        var held = new List<NpgsqlConnection>();
        try
        {
            var seen = await TlsTests.OpenAndCheckAsync(ds, 30, held);
            var servers = await Counts.ServerEventuallyAsync(_cluster, app, "10/10/10");
            output.WriteLine($"{form}: {seen.Count(s => s.Ssl)} of {seen.Count} encrypted; servers hold {servers}; the driver's map {Counts.Map(ds, _cluster)}");
            var verdict = new Verdict();
            verdict.Check(seen.All(s => s.Ssl), "a connection is not encrypted");
            verdict.Equal("10/10/10", servers, "the servers' counts");
            verdict.Equal("10/10/10", Counts.Map(ds, _cluster), "the driver's map");
            verdict.Assert(ds);
        }
        finally
        {
            await Counts.DisposeAllAsync(held);
        }
    }

    [Theory]
    [InlineData("ADO.NET")]
    [InlineData("libpq")]
    public async Task A_client_certificate_is_presented_to_every_discovered_server_10_10_10(string form)
    {
        var app = "tls-client-cert-" + form.Replace(".", "", StringComparison.Ordinal).ToLowerInvariant();
        var connectionString = ClientCertificateConnectionString(form, app, _cluster.TlsClientCertificateFile!, _cluster.TlsClientKeyFile!);
        await using var ds = BrightDbDataSource.Create(connectionString);
        var held = new List<NpgsqlConnection>();
        try
        {
            var subjects = new List<string>();
            for (var i = 0; i < 30; i++)
            {
                var connection = i % 2 == 0 ? await ds.OpenConnectionAsync() : await TlsTests.OpenCreatedAsync(ds);
                held.Add(connection);
                await using var command = new NpgsqlCommand("select coalesce(client_dn, '(none)') from pg_stat_ssl where pid = pg_backend_pid() and ssl", connection);
                subjects.Add((string?)await command.ExecuteScalarAsync() ?? "(not encrypted)");
            }

            var servers = await Counts.ServerEventuallyAsync(_cluster, app, "10/10/10");
            output.WriteLine($"{form}: client certificate subjects seen by the servers: {string.Join(", ", subjects.Distinct())}; servers hold {servers}");
            var verdict = new Verdict();
            verdict.Check(subjects.All(d => d.Contains("CN=bigmath", StringComparison.Ordinal)),
                $"a server did not receive the client certificate: {string.Join(", ", subjects.Distinct())}");
            verdict.Equal("10/10/10", servers, "the servers' counts");
            verdict.Equal("10/10/10", Counts.Map(ds, _cluster), "the driver's map");
            verdict.Assert(ds);
        }
        finally
        {
            await Counts.DisposeAllAsync(held);
        }
    }

    [Fact]
    public async Task A_client_certificate_the_cluster_did_not_sign_is_refused_and_the_error_names_the_server_and_the_cause()
    {
        var directory = Directory.CreateTempSubdirectory("bm-foreign-client-");
        try
        {
            // A certificate for the same user, signed by itself rather than by the cluster's authority.
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest("CN=bigmath", key, HashAlgorithmName.SHA256);
            using var foreign = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
            var certificateFile = Path.Combine(directory.FullName, "foreign.crt");
            var keyFile = Path.Combine(directory.FullName, "foreign.key");
            await File.WriteAllTextAsync(certificateFile, foreign.ExportCertificatePem());
            await File.WriteAllTextAsync(keyFile, key.ExportPkcs8PrivateKeyPem());

            // The listed host is asked with the application's settings: discovery itself is refused.
            await using var ds = BrightDbDataSource.Create(ClientCertificateConnectionString("ADO.NET", "tls-foreign-cert", certificateFile, keyFile) + ";Timeout=5");
            var error = await Assert.ThrowsAnyAsync<Exception>(async () =>
            {
                await using var connection = await ds.OpenConnectionAsync();
            });
            output.WriteLine(error.Message);
            var n1 = _cluster.Node(1);
            Assert.Contains($"{n1.Host}:{n1.Port}", error.Message, StringComparison.Ordinal);
            // TLS 1.3: the client's handshake ends before the server has checked the client certificate; the server then sends
            // its alert (it does not know the certificate's issuer) and closes. The client reads the alert, or, while it is
            // still writing its first message, finds the connection reset: both are named.
            Assert.True(error.Message.Contains("unknown ca", StringComparison.OrdinalIgnoreCase)
                        || error.Message.Contains("reset by peer", StringComparison.OrdinalIgnoreCase),
                $"the error does not say why: {error.Message}");
            Assert.DoesNotContain(_cluster.Password, error.Message, StringComparison.Ordinal);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    string ClientCertificateConnectionString(string form, string app, string certificate, string key)
    {
        var n1 = _cluster.Node(1);
        var root = _cluster.TlsRootCertificateFile!;
        return form == "libpq"
            ? $"host={n1.Host} port={n1.Port} dbname=bigmath user=bigmath password={_cluster.Password} load_balance=true " +
              $"application_name={app} sslmode=verify-full sslrootcert={root} sslcert={certificate} sslkey={key} hedged_open_delay=10000"
            : $"Host={n1.Host};Port={n1.Port};Database=bigmath;Username=bigmath;Password={_cluster.Password};Load Balance Hosts=true;" +
              $"Application Name={app};SSL Mode=VerifyFull;Root Certificate={root};SSL Certificate={certificate};SSL Key={key};Hedged Open Delay=10000";
    }
}
