using System.ComponentModel.DataAnnotations.Schema;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace BrightDb.Npgsql.Ecosystem.Tests;

[Table("eco_orders")]
public sealed class Order
{
    public int Id { get; set; }

    public required string Customer { get; set; }

    public decimal Amount { get; set; }
}

public sealed class ShopContext(DbContextOptions<ShopContext> options) : DbContext(options)
{
    public DbSet<Order> Orders => Set<Order>();
}

[Collection(ClusterCollection.Name)]
public sealed class EntityFrameworkTests(SeedClusterFixture fixture)
{
    static ShopContext Context(System.Data.Common.DbDataSource dataSource) =>
        new(new DbContextOptionsBuilder<ShopContext>().UseNpgsql(dataSource).Options);

    [Fact]
    public async Task A_DbContext_on_the_data_source_creates_inserts_queries_and_commits_balanced_over_the_nodes()
    {
        // EnsureCreated through the balanced data source: the database exists, so EF only checks it and creates the table.
        await using (var setup = BrightDbDataSource.Create(fixture.ConnectionString("ef-setup")))
        await using (var context = Context(setup))
        {
            await context.Database.EnsureCreatedAsync();
        }

        // The local cluster's nodes are separate PostgreSQL servers, not one distributed database: give each the schema
        // (through a data source that is not balanced and names that node), as the real cluster would share it.
        foreach (var node in fixture.Cluster.Nodes)
        {
            await using var single = BrightDbDataSource.Create(
                $"Host={node.Host};Port={node.Port};Database=bigmath;Username=bigmath;Password={fixture.Cluster.Password};Load Balance Hosts=false");
            await using var context = Context(single);
            await context.Database.EnsureCreatedAsync();
            await using var connection = await single.OpenConnectionAsync();
            await using var command = new NpgsqlCommand("select to_regclass('eco_orders') is not null", connection);
            Assert.Equal(true, await command.ExecuteScalarAsync());
        }

        await using var dataSource = BrightDbDataSource.Create(fixture.ConnectionString("ef-balanced"));
        var contexts = new List<ShopContext>();
        try
        {
            for (var i = 0; i < 30; i++)
            {
                var context = Context(dataSource);
                contexts.Add(context);
                // Held open: each context keeps its server for its whole life, so what it writes it reads back.
                await context.Database.OpenConnectionAsync();
            }

            Assert.Equal(new[] { 10, 10, 10 }, await Ecosystem.ServerCountsAsync(fixture.Cluster, "ef-balanced"));
            var map = dataSource.GetHostToConnectionMap();
            Assert.All(fixture.Cluster.Nodes, n => Assert.Equal(10, map[n.Host]));

            for (var i = 0; i < contexts.Count; i++)
            {
                var context = contexts[i];
                var customer = $"ef-customer-{i}-{Guid.NewGuid():N}";
                context.Orders.Add(new Order { Customer = customer, Amount = 10 });
                context.Orders.Add(new Order { Customer = customer, Amount = 32.5m });
                Assert.Equal(2, await context.SaveChangesAsync());

                await using (var transaction = await context.Database.BeginTransactionAsync())
                {
                    context.Orders.Add(new Order { Customer = customer, Amount = 100 });
                    await context.SaveChangesAsync();
                    await transaction.CommitAsync();
                }

                await using (var transaction = await context.Database.BeginTransactionAsync())
                {
                    context.Orders.Add(new Order { Customer = customer, Amount = 1000 });
                    await context.SaveChangesAsync();
                    await transaction.RollbackAsync();
                }

                context.ChangeTracker.Clear();
                var amounts = await context.Orders.Where(o => o.Customer == customer).OrderBy(o => o.Amount).Select(o => o.Amount).ToListAsync();
                Assert.Equal([10m, 32.5m, 100m], amounts);
                Assert.Equal(142.5m, await context.Orders.Where(o => o.Customer == customer).SumAsync(o => o.Amount));
            }

            // Every node received its share of the writes.
            var rowsPerNode = new List<long>();
            foreach (var node in fixture.Cluster.Nodes)
            {
                await using var connection = new NpgsqlConnection(fixture.Cluster.ConnectionString(node.Index));
                await connection.OpenAsync();
                await using var command = new NpgsqlCommand("select count(*) from eco_orders where \"Customer\" like 'ef-customer-%'", connection);
                rowsPerNode.Add((long)(await command.ExecuteScalarAsync())!);
            }

            Assert.Equal(90, rowsPerNode.Sum());
            Assert.All(rowsPerNode, n => Assert.Equal(30, n));
        }
        finally
        {
            foreach (var context in contexts)
                await context.DisposeAsync();
        }

        // Pooled: the connections the contexts closed stay open, idle, in their servers' pools, and the map still counts them.
        var after = dataSource.GetHostToConnectionMap();
        Assert.All(fixture.Cluster.Nodes, n => Assert.Equal(10, after[n.Host]));
    }
}
