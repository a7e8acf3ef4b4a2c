using BrightDb.LocalCluster;
using Cluster = BrightDb.LocalCluster.LocalCluster;

namespace BrightDb.Npgsql.IntegrationTests.Support;

/// <summary>One local cluster shared by the tests of a class; every test uses its own application name.</summary>
public abstract class ClusterFixture : IAsyncLifetime
{
    public Cluster Cluster { get; private set; } = null!;

    protected abstract LocalClusterOptions Options { get; }

    public virtual async Task InitializeAsync() => Cluster = await Cluster.StartAsync(Options);

    public virtual async Task DisposeAsync()
    {
        if (Cluster is not null)
            await Cluster.DisposeAsync();
    }

    internal static LocalClusterOptions Primaries(params string[] placements) =>
        new() { Nodes = [.. placements.Select(p => new NodeSpec(Placement.Parse(p)))] };
}

/// <summary>The tutorial's cluster: <c>--placement_info "aws.us-west.us-west-2a,aws.us-west.us-west-2a,aws.us-west.us-west-2b"</c>.</summary>
public sealed class SeedClusterFixture : ClusterFixture
{
    public const string Zone2a = "aws.us-west.us-west-2a";
    public const string Zone2b = "aws.us-west.us-west-2b";

    protected override LocalClusterOptions Options => Primaries(Zone2a, Zone2a, Zone2b);
}

/// <summary>One primary node in each of <c>aws.us-west.us-west-2a</c>, <c>-2b</c> and <c>-2c</c>.</summary>
public sealed class ThreeZonesClusterFixture : ClusterFixture
{
    protected override LocalClusterOptions Options =>
        Primaries("aws.us-west.us-west-2a", "aws.us-west.us-west-2b", "aws.us-west.us-west-2c");
}

/// <summary>Three zones, node 1 (zone 2a) stopped: it left <c>yb_servers()</c> and refuses connections.</summary>
public sealed class ThreeZonesNodeOneStoppedFixture : ClusterFixture
{
    protected override LocalClusterOptions Options =>
        Primaries("aws.us-west.us-west-2a", "aws.us-west.us-west-2b", "aws.us-west.us-west-2c");

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await Cluster.StopNodeAsync(1);
    }
}

/// <summary>Nodes 1-3 primary, nodes 4-6 read replicas, one of each type per zone.</summary>
public sealed class ReadReplicaClusterFixture : ClusterFixture
{
    protected override LocalClusterOptions Options => ReadReplicaOptions();

    internal static LocalClusterOptions ReadReplicaOptions() => new()
    {
        Nodes =
        [
            new NodeSpec(Placement.Parse("aws.us-west.us-west-2a")),
            new NodeSpec(Placement.Parse("aws.us-west.us-west-2b")),
            new NodeSpec(Placement.Parse("aws.us-west.us-west-2c")),
            new NodeSpec(Placement.Parse("aws.us-west.us-west-2a"), NodeType.ReadReplica),
            new NodeSpec(Placement.Parse("aws.us-west.us-west-2b"), NodeType.ReadReplica),
            new NodeSpec(Placement.Parse("aws.us-west.us-west-2c"), NodeType.ReadReplica),
        ],
    };
}

/// <summary>The read-replica cluster with its three read replicas (nodes 4-6) stopped.</summary>
public sealed class ReadReplicasStoppedFixture : ClusterFixture
{
    protected override LocalClusterOptions Options => ReadReplicaClusterFixture.ReadReplicaOptions();

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await Task.WhenAll(Cluster.StopNodeAsync(4), Cluster.StopNodeAsync(5), Cluster.StopNodeAsync(6));
    }
}

/// <summary>Two unrelated clusters in one process: A has three nodes, B has two.</summary>
public sealed class TwoClustersFixture : IAsyncLifetime
{
    public Cluster A { get; private set; } = null!;

    public Cluster B { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var a = Cluster.StartAsync(ClusterFixture.Primaries("aws.us-west.us-west-2a", "aws.us-west.us-west-2b", "aws.us-west.us-west-2c"));
        var b = Cluster.StartAsync(ClusterFixture.Primaries("gcp.europe-west1.europe-west1-b", "gcp.europe-west1.europe-west1-c"));
        try
        {
            A = await a;
        }
        finally
        {
            B = await b;
        }
    }

    public async Task DisposeAsync()
    {
        if (A is not null)
            await A.DisposeAsync();
        if (B is not null)
            await B.DisposeAsync();
    }
}
