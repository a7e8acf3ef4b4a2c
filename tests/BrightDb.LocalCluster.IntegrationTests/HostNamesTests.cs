using System.Net;

namespace BrightDb.LocalCluster.IntegrationTests;

/// <summary>
/// <see cref="LocalClusterOptions.HostNames"/>: each node gets a host name in <c>/etc/hosts</c> that resolves to its
/// address, <c>yb_servers()</c> reports the names, an added node gets one too, and destroying the cluster removes them.
/// </summary>
public sealed class HostNamesTests
{
    [Fact]
    public async Task Nodes_have_names_that_resolve_to_their_addresses_and_destroy_removes_them()
    {
        var cluster = await LocalCluster.StartAsync(new LocalClusterOptions
        {
            Nodes = [.. Db.SeedPlacements.Select(p => new NodeSpec(Placement.Parse(p)))],
            HostNames = true,
        });
        List<string> names;
        try
        {
            var added = await cluster.AddNodeAsync(new NodeSpec(Placement.Parse(Db.SeedPlacements[0])));
            names = [.. cluster.Nodes.Select(n => n.HostName!)];
            Assert.All(cluster.Nodes, n => Assert.StartsWith($"node{n.Index}.cluster", n.HostName, StringComparison.Ordinal));
            foreach (var node in cluster.Nodes)
            {
                var addresses = await Dns.GetHostAddressesAsync(node.HostName!);
                Assert.Equal([IPAddress.Parse(node.Host)], addresses);
            }

            var rows = await cluster.QueryYbServersAsync(added.Index);
            Assert.Equal(names.Order(), rows.Select(r => r.Host).Order());
            Assert.All(rows, r => Assert.Equal(r.Host, r.PublicIp));
        }
        finally
        {
            await cluster.DisposeAsync();
        }

        var hosts = await File.ReadAllTextAsync("/etc/hosts");
        Assert.All(names, name => Assert.DoesNotContain(name, hosts, StringComparison.Ordinal));
    }
}
