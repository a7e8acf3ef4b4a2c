namespace BrightDb.LocalCluster.IntegrationTests;

public sealed class TwoNodeFixture : ClusterFixture
{
    protected override LocalClusterOptions Options => new()
    {
        Nodes = [new NodeSpec(Placement.Parse("aws.us-west.us-west-2a")), new NodeSpec(Placement.Parse("aws.us-west.us-west-2b"))],
    };
}

/// <summary>Adding and removing nodes: indexes, membership, data.</summary>
public sealed class AddRemoveTests(TwoNodeFixture fixture) : IClassFixture<TwoNodeFixture>
{
    LocalCluster Cluster => fixture.Cluster;

    [Fact]
    public async Task Added_nodes_join_the_membership_and_removed_ones_leave_it_for_good()
    {
        var added = await Cluster.AddNodeAsync(new NodeSpec(Placement.Parse("gcp.europe.europe-west1-b"), NodeType.ReadReplica));
        Assert.Equal(3, added.Index);
        Assert.Equal($"127.0.{Cluster.AddressBlock}.3", added.Host);
        Assert.Equal(NodeState.Running, added.State);
        var rows = await Cluster.QueryYbServersAsync(1);
        var row = Assert.Single(rows, r => r.Host == added.Host);
        Assert.Equal("read_replica", row.NodeType);
        Assert.Equal(("gcp", "europe", "europe-west1-b"), (row.Cloud, row.Region, row.Zone));
        Assert.Equal(added.Uuid, row.Uuid);
        Assert.Equal(1, await Db.ScalarAsync<int>(Cluster.ConnectionString(3), "select 1"));

        await Cluster.RemoveNodeAsync(2);
        Assert.Equal(NodeState.Removed, Cluster.Node(2).State);
        Assert.False(Directory.Exists(Cluster.Node(2).Directory));
        Assert.Equal(Db.Hosts(Cluster, 1, 3), await Db.YbServerHostsAsync(Cluster, 3));
        await Assert.ThrowsAsync<InvalidOperationException>(() => Cluster.StartNodeAsync(2));
        await Assert.ThrowsAsync<InvalidOperationException>(() => Cluster.StopNodeAsync(2));

        // Indexes are never reused: the next node is 4, not 2.
        var next = await Cluster.AddNodeAsync(new NodeSpec(Placement.Parse("aws.us-west.us-west-2c")));
        Assert.Equal(4, next.Index);
        Assert.Equal(Db.Hosts(Cluster, 1, 3, 4), await Db.YbServerHostsAsync(Cluster, 1));
        var counts = await Cluster.GetClientConnectionCountsAsync();
        Assert.Equal([1, 3, 4], counts.Keys.Order());
    }
}
