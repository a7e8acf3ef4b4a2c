using BrightDb.LocalCluster;
using Npgsql;
using Xunit.Abstractions;

namespace BrightDb.Npgsql.IntegrationTests;

/// <summary>
/// A server refusing the password is the application's error, not an outage: PostgreSQL's own exception reaches the
/// caller and the server is not marked down. And whatever fails, the password shows nowhere: not in exceptions, logs
/// (the driver's and Npgsql's), descriptions or the data source's connection string.
/// </summary>
public sealed class AuthAndSecretsTests(ITestOutputHelper output) : IAsyncLifetime
{
    const string Secret = "S3cr3t-Zebra-Password";
    const string WrongSecret = "Wr0ng-Zebra-Password";

    /// <summary>Common to both passwords, and to nothing else a test writes.</summary>
    const string SecretMarker = "Zebra";

    LocalCluster.LocalCluster _cluster = null!;

    public async Task InitializeAsync() =>
        _cluster = await LocalCluster.LocalCluster.StartAsync(new LocalClusterOptions
        {
            Nodes = [.. new[] { "aws.us-west.us-west-2a", "aws.us-west.us-west-2b", "aws.us-west.us-west-2c" }.Select(p => new NodeSpec(Placement.Parse(p)))],
            Password = Secret,
        });

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    LocalNode Node1 => _cluster.Node(1);

    // Hedging is for hung servers: at its 2 s default a loaded test machine can trip it on a healthy server and skew the
    // counts asserted here, so it waits longer (a crashed server refuses at once and is not concerned).
    string ConnectionString(string app, string password = Secret, string extra = "") =>
        $"Host={Node1.Host};Port={Node1.Port};Database=bigmath;Username=bigmath;Password={password};" +
        $"Load Balance Hosts=true;Pooling=false;Application Name={app};Failed Host Reconnect Delay Secs=1;Hedged Open Delay=10000;{extra}";

    [Fact]
    public async Task Wrong_password_on_one_server_fails_over_to_the_others_and_everywhere_surfaces_PostgreSQLs_error()
    {
        var app = "auth-one-node";
        var logs = new LogRecorder(output);
        var (n1, n2, n3) = (_cluster.Node(1), _cluster.Node(2), _cluster.Node(3));
        await using var ds = new BrightDbDataSourceBuilder(ConnectionString(app, extra: "Failed Host Reconnect Delay Secs=60")).UseLoggerFactory(logs).Build();
        var markedDown = new List<string>();
        ds.HostMarkedDown += (_, e) => { lock (markedDown) markedDown.Add(e.Host); };
        (await ds.OpenConnectionAsync()).Dispose();

        await _cluster.SetUserPasswordAsync(n2.Index, "other-password");
        var held = new List<NpgsqlConnection>();
        try
        {
            // A server that refuses the data source's credentials while the others accept them cannot serve this data
            // source: the open that chose it goes on to another server within the same call, and the server is skipped.
            for (var i = 0; i < 6; i++)
                held.Add(await ds.OpenConnectionAsync());
            for (var i = 0; i < 6; i++)
            {
                var created = ds.CreateConnection();
                held.Add(created);
                created.Open();
            }

            foreach (var c in held)
            {
                await using var command = new NpgsqlCommand("select 1", c);
                Assert.Equal(1, await command.ExecuteScalarAsync());
            }

            Assert.DoesNotContain(held, c => c.Host == n2.Host);
            Assert.Equal(6, held.Count(c => c.Host == n1.Host));
            Assert.Equal(6, held.Count(c => c.Host == n3.Host));
            lock (markedDown)
                Assert.Equal([n2.Host], markedDown);
            Assert.Single(logs.WithId(3004));
            Assert.Equal(0, ClusterWaits.MapCount(ds, n2.Host));
            Assert.Equal(6, ClusterWaits.MapCount(ds, n1.Host));
            Assert.Equal(6, ClusterWaits.MapCount(ds, n3.Host));
            await ClusterWaits.ServerCountBecomesAsync(_cluster, app, n2, 0);
            await ClusterWaits.ServerCountBecomesAsync(_cluster, app, n1, 6);
            await ClusterWaits.ServerCountBecomesAsync(_cluster, app, n3, 6);

            // Refused everywhere: the application's own error, as PostgreSQL said it, and no server is marked down for it.
            await _cluster.SetUserPasswordAsync(n1.Index, "other-password");
            await _cluster.SetUserPasswordAsync(n3.Index, "other-password");
            var error = await Assert.ThrowsAsync<PostgresException>(async () => await ds.OpenConnectionAsync());
            Assert.Equal(PostgresErrorCodes.InvalidPassword, error.SqlState);
            var syncError = Assert.Throws<PostgresException>(() => ds.OpenConnection());
            Assert.Equal(PostgresErrorCodes.InvalidPassword, syncError.SqlState);
            lock (markedDown)
                Assert.Equal([n2.Host], markedDown);
        }
        finally
        {
            foreach (var node in new[] { n1, n2, n3 })
                await _cluster.SetUserPasswordAsync(node.Index, _cluster.Password);
            foreach (var c in held)
                await c.DisposeAsync();
        }
    }

    [Fact]
    public async Task Password_is_not_shown_after_a_wrong_password()
    {
        var leaks = new SecretWitness(output);
        var wrong = new[]
        {
            ConnectionString("secret-wrong-ado", WrongSecret),
            $"host={Node1.Host} port={Node1.Port} dbname=bigmath user=bigmath password={WrongSecret} load_balance=true application_name=secret-wrong-libpq",
            $"postgresql://bigmath:{WrongSecret}@{Node1.Host}:{Node1.Port}/bigmath?load_balance=true&application_name=secret-wrong-uri",
            ConnectionString("secret-wrong-plain", WrongSecret).Replace("Load Balance Hosts=true", "Load Balance Hosts=false", StringComparison.Ordinal),
        };
        foreach (var cs in wrong)
        {
            await using var ds = leaks.Build(cs);
            var error = await leaks.FailsAsync(async () => await ds.OpenConnectionAsync());
            Assert.Equal(PostgresErrorCodes.InvalidPassword, Assert.IsType<PostgresException>(error).SqlState);
            leaks.Fails(() => ds.OpenConnection());
        }

        // The right password on the data source, a different one on node 2 only.
        await _cluster.SetUserPasswordAsync(2, WrongSecret);
        try
        {
            await using var ds = leaks.Build(ConnectionString("secret-node2"));
            for (var i = 0; i < 6; i++)
                await leaks.MayFailAsync(async () => (await ds.OpenConnectionAsync()).Dispose());
        }
        finally
        {
            await _cluster.SetUserPasswordAsync(2, _cluster.Password);
        }

        // Npgsql's own logs went through the same factory, so they were checked too.
        Assert.Contains(leaks.Logs.Entries, e => e.Category.StartsWith("Npgsql", StringComparison.Ordinal));
        leaks.AssertNoSecretAnywhere();
    }

    [Fact]
    public async Task Password_is_not_shown_when_every_server_is_down()
    {
        var leaks = new SecretWitness(output);
        await using var ds = leaks.Build(ConnectionString("secret-all-down"));
        await using (var opened = await ds.OpenConnectionAsync())
        {
            // What EF Core and other tools read from a connection handed out.
            leaks.Describe(opened.ConnectionString);
            leaks.Describe(opened.DataSource);
        }

        await using (var pooled = leaks.Build(ConnectionString("secret-pooled").Replace("Pooling=false", "Pooling=true", StringComparison.Ordinal)))
        await using (var opened = await pooled.OpenConnectionAsync())
            leaks.Describe(opened.ConnectionString);
        foreach (var node in _cluster.Nodes)
            await _cluster.KillNodeAsync(node.Index);
        try
        {
            await leaks.FailsAsync(async () => await ds.OpenConnectionAsync());
            leaks.Fails(() => ds.OpenConnection());
            await ds.RefreshTopologyAsync();

            // A new data source cannot even learn the cluster.
            await using var fresh = leaks.Build(ConnectionString("secret-all-down-fresh", extra: $"Host={string.Join(",", _cluster.Nodes.Select(n => n.Host))}"));
            await leaks.FailsAsync(async () => await fresh.OpenConnectionAsync());
            await using var plain = leaks.Build(ConnectionString("secret-all-down-plain").Replace("Load Balance Hosts=true", "Load Balance Hosts=false", StringComparison.Ordinal));
            await leaks.FailsAsync(async () => await plain.OpenConnectionAsync());
        }
        finally
        {
            foreach (var node in _cluster.Nodes)
                await _cluster.StartNodeAsync(node.Index);
        }

        // Discovery failing on servers that are up.
        await _cluster.SetYbServersBehaviorAsync(YbServersBehavior.Fail);
        try
        {
            // Whether a first open then fails or falls back to the listed host, nothing it says may show the password.
            await using var failing = leaks.Build(ConnectionString("secret-discovery-fails"));
            await leaks.MayFailAsync(async () => (await failing.OpenConnectionAsync()).Dispose());

            // A refresh of the first data source, on servers that are up again, fails on yb_servers() and says so in its
            // log (event 1002), which must not show the password either.
            var failedRefreshes = RefreshFailures(leaks.Logs, ds);
            await ClusterWaits.UntilAsync(async () =>
            {
                await ds.RefreshTopologyAsync();
                return RefreshFailures(leaks.Logs, ds) > failedRefreshes;
            }, "a refresh failing on yb_servers() to be logged");
        }
        finally
        {
            await _cluster.SetYbServersBehaviorAsync(YbServersBehavior.Normal);
        }

        var disposed = leaks.Build(ConnectionString("secret-disposed"));
        await disposed.DisposeAsync();
        await leaks.FailsAsync(async () => await disposed.OpenConnectionAsync());

        Assert.NotEmpty(leaks.Logs.WithId(1002));
        Assert.Contains(leaks.Logs.Entries, e => e.Category.StartsWith("Npgsql", StringComparison.Ordinal));
        leaks.AssertNoSecretAnywhere();
    }

    /// <summary>The failed refreshes (event 1002) logged for <paramref name="dataSource"/>.</summary>
    static int RefreshFailures(LogRecorder logs, BrightDbDataSource dataSource) =>
        logs.WithId(1002).Count(e => e.Values.TryGetValue("DataSource", out var name) && name == dataSource.Name);

    [Fact]
    public async Task Password_is_not_shown_when_topology_keys_only_match_no_server()
    {
        var leaks = new SecretWitness(output);
        await using var ds = leaks.Build(ConnectionString("secret-keys-only", extra: "Topology Keys=aws.eu-north.eu-north-1a:1;Fallback To Topology Keys Only=true"));
        await leaks.FailsAsync(async () => await ds.OpenConnectionAsync());
        leaks.Fails(() => ds.OpenConnection());

        // A key that matches a zone whose only server is down.
        await using var zoneDown = leaks.Build(ConnectionString("secret-keys-down", extra: "Topology Keys=aws.us-west.us-west-2c:1;Fallback To Topology Keys Only=true"));
        (await zoneDown.OpenConnectionAsync()).Dispose();
        await _cluster.KillNodeAsync(3);
        try
        {
            await leaks.FailsAsync(async () => await zoneDown.OpenConnectionAsync());
        }
        finally
        {
            await _cluster.StartNodeAsync(3);
        }

        leaks.AssertNoSecretAnywhere();
    }

    [Fact]
    public void Password_is_not_shown_for_bad_connection_string_values()
    {
        var leaks = new SecretWitness(output);
        var host = Node1.Host;
        var invalid = new[]
        {
            $"Host={host};Password={Secret};Port=abc",
            $"Host={host};Password={Secret};Port=0",
            $"Host={host};Password={Secret};Timeout=-5",
            $"Host={host};Password={Secret};Pooling=perhaps",
            $"Host={host};Password={Secret};SSL Mode=sometimes",
            $"Host={host};Password={Secret};Load Balance Hosts=maybe",
            $"Host={host};Password={Secret};Topology Keys=aws.us-west",
            $"Host={host};Password={Secret};Topology Keys=aws.us-west.us-west-2a:99",
            $"Host={host};Password={Secret};YB Servers Refresh Interval=100000",
            $"Host={host};Password={Secret};Failed Host Reconnect Delay Secs=-1",
            $"Host={host};Password={Secret};Fallback To Topology Keys Only=sometimes",
            $"Host={host};Password={Secret};Hedged Open Delay=forever",
            $"Host={host};Password={Secret};Bogus Keyword=1",
            $"Host={host};Password={Secret};Load Balance Hosts=true;Target Session Attributes=primary",
            $"Host={host};Password={Secret};Load Balance Hosts=false;Topology Keys=aws.us-west.us-west-2a",
            $"Host={host},,{host};Password={Secret}",
            $"Host={host}:99999;Password={Secret}",
            $"Host=[{host};Password={Secret}",
            $"Host={host};Password={Secret};Port=2521,2522",
            $"Password={Secret};Database=bigmath",
            $"Host={host};Password={Secret};=oops",
            $"Host={host};Password=\"{Secret};Database=bigmath",
            $"host={host} password='{Secret} dbname=bigmath",
            $"host={host} password={Secret} port=abc",
            $"host={host} password={Secret} load_balance=maybe",
            $"host={host} password={Secret} sslmode=sometimes",
            $"postgresql://bigmath:{Secret}@{host}:99999/bigmath",
            $"postgresql://bigmath:{Secret}@{host},/bigmath",
            $"postgresql://bigmath:{Secret}@{host}/bigmath?load_balance",
            $"postgresql://bigmath:{Secret}@{host}/bigmath?load_balance=maybe",
            $"postgresql://bigmath:{Secret}@{host}/bigmath?connect_timeout=soon",
        };
        foreach (var cs in invalid)
        {
            var error = leaks.Fails(() => leaks.Build(cs));
            Assert.True(error is ArgumentException, $"'{cs}' failed with {error.GetType().Name}, not an ArgumentException");
        }

        // Setting bad values on a builder that already holds the password.
        var builder = new BrightDbConnectionStringBuilder($"Host={host};Password={Secret}");
        leaks.Describe(builder.ToString());
        leaks.Fails(() => builder["Port"] = "abc");
        leaks.Fails(() => builder["Load Balance Hosts"] = "maybe");
        leaks.Fails(() => builder["Nonsense"] = Secret);
        leaks.Fails(() => builder.Timeout = -1);
        leaks.Describe(builder.ToString());

        leaks.AssertNoSecretAnywhere();
    }

    [Fact]
    public void Password_is_not_shown_for_a_libpq_string_missing_an_equals_sign()
    {
        // libpq refuses this string ('missing "=" after "port"'); read any other way, the password lands in a host name.
        var leaks = new SecretWitness(output);
        var cs = $"host={Node1.Host} password={Secret} port load_balance=true";
        var error = leaks.Fails(() => leaks.Build(cs));
        Assert.IsAssignableFrom<ArgumentException>(error);
        leaks.AssertNoSecretAnywhere();
    }

    /// <summary>
    /// Collects everything that could show a password: every exception a provoked failure threw, every log entry of every
    /// level (the data sources built here log to it, and hand it to Npgsql), and the descriptions of every data source and
    /// builder.
    /// </summary>
    sealed class SecretWitness(ITestOutputHelper output)
    {
        readonly List<Exception> _errors = [];
        readonly List<string> _descriptions = [];

        public LogRecorder Logs { get; } = new(output);

        public BrightDbDataSource Build(string connectionString)
        {
            var builder = new BrightDbDataSourceBuilder(connectionString).UseLoggerFactory(Logs);
            Describe(builder.ConnectionStringBuilder.ToString());
            var ds = builder.Build();
            ds.HostMarkedDown += (_, e) => Describe(e.Reason);
            ds.HostMarkedUp += (_, e) => Describe(e.Reason);
            ds.TopologyChanged += (_, e) => Describe(e.NewTopology.ToString());
            Describe(ds.ToString());
            Describe(ds.ConnectionString);
            Describe(ds.Name);
            return ds;
        }

        public void Describe(string? text) => _descriptions.Add(text ?? "");

        public Exception Fails(Action action)
        {
            var error = Record.Exception(action);
            Assert.NotNull(error);
            _errors.Add(error);
            return error;
        }

        public async Task<Exception> FailsAsync(Func<Task> action)
        {
            var error = await Record.ExceptionAsync(action);
            Assert.NotNull(error);
            _errors.Add(error);
            return error;
        }

        public async Task MayFailAsync(Func<Task> action)
        {
            if (await Record.ExceptionAsync(action) is { } error)
                _errors.Add(error);
        }

        public void AssertNoSecretAnywhere()
        {
            Assert.NotEmpty(_errors);
            foreach (var error in _errors)
            {
                foreach (var e in Chain(error))
                    AssertClean(e.Message, $"the message of a {e.GetType().Name}");
                AssertClean(error.ToString(), $"{error.GetType().Name}.ToString()");
            }

            foreach (var entry in Logs.Entries)
                AssertClean(entry.FullText, $"the log entry {entry}");
            foreach (var description in _descriptions)
                AssertClean(description, "a description or connection string");
        }

        static void AssertClean(string text, string where)
        {
            foreach (var secret in new[] { Secret, WrongSecret, SecretMarker })
                Assert.False(text.Contains(secret, StringComparison.OrdinalIgnoreCase), $"The password shows in {where}: {text}");
        }

        static IEnumerable<Exception> Chain(Exception error)
        {
            var pending = new Stack<Exception>([error]);
            while (pending.Count > 0)
            {
                var e = pending.Pop();
                yield return e;
                if (e is AggregateException aggregate)
                {
                    foreach (var inner in aggregate.InnerExceptions)
                        pending.Push(inner);
                }
                else if (e.InnerException is { } inner)
                {
                    pending.Push(inner);
                }
            }
        }
    }
}
