using BrightDb.Npgsql.Diagnostics;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace BrightDb.Npgsql.Ecosystem.Tests;

[Collection(ClusterCollection.Name)]
public sealed class SecretsTests(SeedClusterFixture fixture)
{
    [Fact]
    public async Task A_password_appears_in_no_log_line_exception_event_or_metric_tag()
    {
        var secret = $"Zq9-NeverLog-{Guid.NewGuid():N}";
        var logs = new CapturingLoggerProvider();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Trace));
        using var metrics = new MetricCollector(DriverMetrics.MeterName, NpgsqlPoolMetrics.MeterName);
        var texts = new List<string>();
        var first = fixture.Cluster.Nodes[0];
        // A listed host where nothing listens (so failover and down-marking run) before a real node that refuses the password.
        var deadPort = first.Port + 7;
        var connectionStrings = new[]
        {
            $"Host={first.Host}:{deadPort},{first.Host}:{first.Port};Database=bigmath;Username=bigmath;Password={secret};Load Balance Hosts=true;Timeout=3;Application Name=secrets",
            $"host={first.Host} port={first.Port} dbname=bigmath user=bigmath password={secret} load_balance=true connect_timeout=3 application_name=secrets",
            $"postgresql://bigmath:{secret}@{first.Host}:{first.Port}/bigmath?load_balance=true&topology_keys=aws.us-west.us-west-2a",
            $"Host={first.Host};Port={first.Port};Database=bigmath;Username=bigmath;Password={secret};Load Balance Hosts=false",
            $"Host={first.Host};Port={first.Port};Database=bigmath;Username=bigmath;Password={secret};Load Balance Hosts=true;Pooling=false",
        };

        foreach (var connectionString in connectionStrings)
        {
            var builder = new BrightDbDataSourceBuilder(connectionString);
            builder.UseLoggerFactory(loggerFactory);
            texts.Add(builder.ConnectionStringBuilder.ToString());
            await using var dataSource = builder.Build();
            texts.Add(dataSource.ConnectionString);
            texts.Add(dataSource.ToString());
            dataSource.HostMarkedDown += (_, e) => texts.Add($"{e.Host} {e.Port} {e.Reason}");
            for (var i = 0; i < 3; i++)
            {
                var error = await Assert.ThrowsAnyAsync<Exception>(async () => await dataSource.OpenConnectionAsync());
                texts.Add(error.ToString());
                texts.Add(error.Message);
                Assert.True(error is PostgresException { SqlState: "28P01" } || error.InnerException is PostgresException { SqlState: "28P01" },
                    $"Expected the server's authentication failure, got {error}");
            }

            var sync = Assert.ThrowsAny<Exception>(() => dataSource.OpenConnection());
            texts.Add(sync.ToString());
        }

        // A malformed value next to the password.
        texts.Add(Assert.ThrowsAny<ArgumentException>(() => BrightDbDataSource.Create(
            $"Host={first.Host};Password={secret};Load Balance Hosts=maybe")).ToString());
        texts.Add(Assert.ThrowsAny<ArgumentException>(() => BrightDbDataSource.Create(
            $"host={first.Host} password='{secret}' topology_keys=nowhere")).ToString());

        metrics.Observe();
        Assert.Contains(logs.Entries, e => e.EventId.Id == 3001); // the dead listed host was marked down: the failover path ran
        texts.AddRange(logs.Entries.Select(e => $"{e.Category} {e.EventId} {e.Message} {e.State} {e.Exception}"));
        texts.AddRange(metrics.Records.SelectMany(r => r.Tags.Select(t => $"{r.Instrument} {t.Key}={t.Value}")));
        Assert.NotEmpty(metrics.Records);
        Assert.DoesNotContain(texts, t => t.Contains(secret, StringComparison.Ordinal));
        // The prefix alone also never shows: no partial echo of the value.
        Assert.DoesNotContain(texts, t => t.Contains("NeverLog", StringComparison.Ordinal));
    }
}
