using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace BrightDb.Npgsql.Ecosystem.Tests;

/// <summary>A data source registered from configuration: <c>ConnectionStrings:&lt;name&gt;</c> and the section <c>BrightDb:&lt;name&gt;</c>.</summary>
[Collection(ClusterCollection.Name)]
public sealed class ConfigurationTests(SeedClusterFixture fixture)
{
    /// <summary>The connection string without the driver's keywords, as an application would keep it.</summary>
    string PlainConnectionString
    {
        get
        {
            var first = fixture.Cluster.Nodes[0];
            return $"Host={first.Host};Port={first.Port};Database=bigmath;Username=bigmath";
        }
    }

    static IConfiguration Configuration(Dictionary<string, string?> values) => new ConfigurationBuilder().AddInMemoryCollection(values).Build();

    [Fact]
    public async Task The_connection_string_and_the_drivers_keywords_come_from_configuration()
    {
        var configuration = Configuration(new()
        {
            ["ConnectionStrings:cluster"] = PlainConnectionString,
            ["BrightDb:cluster:Password"] = fixture.Cluster.Password,
            ["BrightDb:cluster:Load Balance Hosts"] = "true",
            ["BrightDb:cluster:Topology Keys"] = "aws.us-west.us-west-2a",
            ["BrightDb:cluster:Application Name"] = "di-config",
            ["BrightDb:cluster:Hedged Open Delay"] = "10000",
        });
        var services = new ServiceCollection();
        services.AddBrightDbDataSource(configuration, "cluster");
        await using var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateScopes = true, ValidateOnBuild = true });
        var dataSource = provider.GetRequiredService<BrightDbDataSource>();

        var held = new List<NpgsqlConnection>();
        for (var i = 0; i < 20; i++)
        {
            var connection = await dataSource.OpenConnectionAsync();
            held.Add(connection);
            await using var command = new NpgsqlCommand("select current_user", connection);
            Assert.Equal("bigmath", await command.ExecuteScalarAsync());
        }

        // Nodes 1 and 2 are the preferred zone us-west-2a; node 3 (us-west-2b) gets nothing.
        Assert.Equal(new[] { 10, 10, 0 }, await Ecosystem.ServerCountsAsync(fixture.Cluster, "di-config"));
        foreach (var connection in held)
            await connection.DisposeAsync();
    }

    [Fact]
    public void A_missing_connection_string_is_named()
    {
        var error = Assert.Throws<InvalidOperationException>(() => new ServiceCollection().AddBrightDbDataSource(Configuration([]), "cluster"));
        Assert.Contains("ConnectionStrings:cluster", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Topology Kees", "aws.us-west.us-west-2a")]
    [InlineData("Load Balance Hosts", "sometimes")]
    [InlineData("Timeout", "soon")]
    public void A_bad_key_of_the_section_is_named_without_the_password(string key, string value)
    {
        var configuration = Configuration(new()
        {
            ["ConnectionStrings:cluster"] = PlainConnectionString + ";Password=hunter2-secret",
            [$"BrightDb:cluster:{key}"] = value,
        });
        var error = Assert.Throws<InvalidOperationException>(() => new ServiceCollection().AddBrightDbDataSource(configuration, "cluster"));
        Assert.Contains(key, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2-secret", error.ToString(), StringComparison.Ordinal);
    }
}
