using BrightDb.Npgsql;
using Npgsql;

// A minimal API on a BrightDB cluster: the data source is registered once (a singleton, logging through ASP.NET Core's
// logger factory) and resolved by the endpoints.
var builder = WebApplication.CreateBuilder(args);

var connectionString = builder.Configuration.GetConnectionString("BrightDb")
    ?? throw new InvalidOperationException("Set ConnectionStrings:BrightDb (appsettings.json or ConnectionStrings__BrightDb).");
builder.Services.AddBrightDbDataSource(connectionString, dataSource => dataSource.Name = "sample");

var app = builder.Build();

// Connections open on each server, as the driver counts them: { "127.0.0.1": 10, "127.0.0.2": 10, ... }.
app.MapGet("/hosts", (BrightDbDataSource dataSource) => Results.Ok(dataSource.GetHostToConnectionMap()));

// The servers the driver learned from yb_servers().
app.MapGet("/topology", (BrightDbDataSource dataSource) => Results.Ok(dataSource.Topology?.Servers.Select(s => new
{
    s.Host,
    s.Port,
    NodeType = s.NodeType.ToString(),
    s.Placement,
    s.ConnectHost,
})));

// A query on a balanced connection, with the server that ran it.
app.MapGet("/now", async (BrightDbDataSource dataSource, CancellationToken cancellationToken) =>
{
    await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
    await using var command = new NpgsqlCommand("select now(), host(inet_server_addr())", connection);
    await using var reader = await command.ExecuteReaderAsync(cancellationToken);
    await reader.ReadAsync(cancellationToken);
    return Results.Ok(new { Now = reader.GetDateTime(0), Server = reader.IsDBNull(1) ? connection.Host : reader.GetString(1) });
});

await app.RunAsync();
