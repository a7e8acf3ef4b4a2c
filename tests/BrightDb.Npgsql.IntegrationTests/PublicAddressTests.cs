using BrightDb.LocalCluster;
using BrightDb.Npgsql.IntegrationTests.Support;
using Npgsql;
using Xunit.Abstractions;

namespace BrightDb.Npgsql.IntegrationTests;

/// <summary>
/// Nodes with a private address (<c>host</c>) and a public one (<c>public_ip</c>), the server listening on both: an application
/// that reaches the cluster through a public address connects to every server's public address, one that reaches it
/// through a private address to the private ones; <c>Server Addresses</c> forces either.
/// </summary>
public sealed class PublicAddressTests(ITestOutputHelper output) : IAsyncLifetime
{
    LocalCluster.LocalCluster _cluster = null!;

    public async Task InitializeAsync() =>
        _cluster = await LocalCluster.LocalCluster.StartAsync(new LocalClusterOptions
        {
            Nodes = [.. new[] { "aws.us-west.us-west-2a", "aws.us-west.us-west-2b", "aws.us-west.us-west-2c" }.Select(p => new NodeSpec(Placement.Parse(p)))],
            PublicAddresses = true,
        });

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Theory]
    [InlineData(true, null, true)]
    [InlineData(false, null, false)]
    [InlineData(false, "public", true)]
    [InlineData(true, "private", false)]
    public async Task Connections_go_to_the_addresses_of_the_kind_the_application_was_given_or_asked_for(bool contactPublic, string? choice, bool throughPublic)
    {
        var app = $"addr-{(contactPublic ? "public" : "private")}-{choice ?? "auto"}";
        var n1 = _cluster.Node(1);
        Assert.NotNull(n1.PublicHost);
        var contact = contactPublic ? n1.PublicHost! : n1.Host;
        await using var ds = Counts.Create(
            $"Host={contact};Port={n1.Port};Database=bigmath;Username=bigmath;Password={_cluster.Password};Load Balance Hosts=true;" +
            $"Application Name={app};{Counts.NoHedging}{(choice is null ? "" : $";Server Addresses={choice}")}");
        var held = new List<NpgsqlConnection>();
        try
        {
            var serverAddresses = new List<string>();
            for (var i = 0; i < 30; i++)
            {
                var connection = i % 2 == 0 ? await ds.OpenConnectionAsync() : ds.CreateConnection();
                if (connection.State != System.Data.ConnectionState.Open)
                    await connection.OpenAsync();
                held.Add(connection);
                await using var command = new NpgsqlCommand("select host(inet_server_addr())", connection);
                serverAddresses.Add((string)(await command.ExecuteScalarAsync())!);
            }

            var expected = _cluster.Nodes.Select(n => throughPublic ? n.PublicHost! : n.Host).ToHashSet();
            var map = ds.GetHostToConnectionMap();
            output.WriteLine($"contact {contact}, Server Addresses={choice ?? "auto"}, expected the {(throughPublic ? "public" : "private")} addresses: server addresses {string.Join(", ", serverAddresses.GroupBy(a => a).Select(g => $"{g.Key} x{g.Count()}"))}; map {string.Join(", ", map.Select(kv => $"{kv.Key}={kv.Value}"))}");
            var verdict = new Verdict();
            verdict.Check(serverAddresses.All(expected.Contains), $"a connection reached an address of the other kind: {string.Join(", ", serverAddresses.Where(a => !expected.Contains(a)).Distinct())}");
            verdict.Check(serverAddresses.GroupBy(a => a).All(g => g.Count() == 10) && serverAddresses.Distinct().Count() == 3, "not 10 on each server");
            verdict.Check(map.Keys.ToHashSet().SetEquals(expected) && map.Values.All(v => v == 10), "the map is not keyed by the addresses connected to, 10 each");
            verdict.Equal("10/10/10", await Counts.ServerEventuallyAsync(_cluster, app, "10/10/10"), "the servers' counts");
            verdict.Assert(ds);
        }
        finally
        {
            await Counts.DisposeAllAsync(held);
        }
    }
}
