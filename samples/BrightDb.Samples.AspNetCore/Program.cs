using BrightDb.Npgsql;
using BrightDb.Samples.AspNetCore;
using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Npgsql;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

// A minimal API on a BrightDB cluster. The balanced data source is registered once (a singleton that logs through
// ASP.NET Core's logger factory), with two views of it for a read/write split: "reads" prefers read replicas, "writes"
// prefers primaries; they share its topology, counts and pools. Endpoints use it directly, through EF Core and through
// Dapper.
var builder = WebApplication.CreateBuilder(args);

// One call (BrightDb.Npgsql.Hosting): the data source from ConnectionStrings:cluster with the driver's keywords from the
// section BrightDb:cluster (appsettings.json, or the environment: ConnectionStrings__cluster, BrightDb__cluster__Topology
// Keys, ...); its health check "brightdb_cluster" (Healthy with every server up, Degraded with some marked down, Unhealthy
// when none answers); the driver's spans (discovery, refresh, failover, hedging) with Npgsql's command spans, and the
// driver's metrics (connections per server, opens, failovers, ...). BrightDb:cluster:DisableHealthChecks, DisableTracing
// and DisableMetrics switch them off.
builder.AddBrightDbDataSource("cluster", configureDataSource: (_, dataSource) => dataSource.Name = "sample");
builder.Services.AddBrightDbDataSourceView(Views.Reads, LoadBalanceMode.PreferReadReplica);
builder.Services.AddBrightDbDataSourceView(Views.Writes, LoadBalanceMode.PreferPrimary);
// EF Core on the balanced data source: every connection the context opens is balanced and fails over.
builder.Services.AddDbContext<SampleContext>((services, options) => options.UseNpgsql(services.GetRequiredService<BrightDbDataSource>()));
// Spans and metrics written to the console; Telemetry:Console=false silences them.
if (builder.Configuration.GetValue("Telemetry:Console", defaultValue: true))
{
    builder.Services.AddOpenTelemetry()
        .WithTracing(tracing => tracing.AddConsoleExporter())
        .WithMetrics(metrics => metrics.AddConsoleExporter());
}

var app = builder.Build();

app.MapHealthChecks("/health");

// Connections open on each server, as the driver counts them: { "127.0.0.1": 10, "127.0.0.2": 10, ... }.
app.MapGet("/hosts", (BrightDbDataSource dataSource) => TypedResults.Ok(dataSource.GetHostToConnectionMap()));

// The servers the driver learned from yb_servers().
app.MapGet("/topology", Results<Ok<IEnumerable<ServerView>>, NotFound> (BrightDbDataSource dataSource) =>
    dataSource.Topology is { } topology
        ? TypedResults.Ok(topology.Servers.Select(s => new ServerView(s.Host, s.Port, s.NodeType.ToString(), s.Placement, s.ConnectHost)))
        : TypedResults.NotFound());

// A query on a balanced connection, with the server that ran it.
app.MapGet("/now", async (BrightDbDataSource dataSource, CancellationToken cancellationToken) =>
{
    await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
    await using var command = new NpgsqlCommand("select now(), host(inet_server_addr())", connection);
    await using var reader = await command.ExecuteReaderAsync(cancellationToken);
    await reader.ReadAsync(cancellationToken);
    return TypedResults.Ok(new ServerTime(reader.GetDateTime(0), reader.IsDBNull(1) ? connection.Host! : reader.GetString(1)));
});

// Holds a balanced connection for a while (at most 30 s), as a slow request would: many at once show the balance on /hosts.
app.MapGet("/hold", async (BrightDbDataSource dataSource, int milliseconds, CancellationToken cancellationToken) =>
{
    await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
    await Task.Delay(Math.Clamp(milliseconds, 0, 30_000), cancellationToken);
    return TypedResults.Ok(new ServerName(connection.Host!));
});

// Dapper on the "reads" view: a closed connection from DI, which Dapper opens (balanced over read replicas first) and closes.
app.MapGet("/reads/server", async ([FromKeyedServices(Views.Reads)] NpgsqlConnection connection) =>
    TypedResults.Ok(await connection.QuerySingleAsync<ServerRole>(
        "select host(inet_server_addr()) as Server, pg_is_in_recovery() as InRecovery")));

// Dapper on the "writes" view: primaries first.
app.MapGet("/writes/server", async ([FromKeyedServices(Views.Writes)] NpgsqlConnection connection) =>
    TypedResults.Ok(await connection.QuerySingleAsync<ServerRole>(
        "select host(inet_server_addr()) as Server, pg_is_in_recovery() as InRecovery")));

// EF Core: a query through the DbContext, on a balanced connection.
app.MapGet("/ef/server", async (SampleContext context, CancellationToken cancellationToken) =>
    TypedResults.Ok(new ServerName(await context.Database
        .SqlQuery<string>($"select host(inet_server_addr()) as \"Value\"")
        .SingleAsync(cancellationToken))));

await app.RunAsync();

/// <summary>The entry point's type, for <c>WebApplicationFactory&lt;Program&gt;</c> in the sample's tests.</summary>
public partial class Program;
