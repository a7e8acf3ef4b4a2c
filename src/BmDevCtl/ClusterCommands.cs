using System.CommandLine;
using System.Diagnostics;
using BrightDb.LocalCluster;
using Spectre.Console;

namespace BmDevCtl;

/// <summary>Commands acting on the whole cluster.</summary>
static class ClusterCommands
{
    /// <summary>yb-ctl's placement when none is given.</summary>
    const string DefaultPlacement = "cloud1.datacenter1.rack1";

    public static Command Create(CliContext context, Option<string?> baseDir)
    {
        var rf = new Option<int>("--rf") { Description = "Replication factor (and the default number of nodes).", DefaultValueFactory = _ => 1 };
        var placementInfo = new Option<string?>("--placement_info")
        {
            Description = "Comma-separated cloud.region.zone, one per node; when fewer than the nodes they are reused in turn.",
        };
        var numNodes = new Option<int?>("--num_nodes") { Description = "Number of nodes (default: --rf)." };
        var port = new Option<int>("--port") { Description = "SQL port of every node.", DefaultValueFactory = _ => 2521 };
        var addressBlock = new Option<int>("--address_block")
        {
            Description = "Node i listens on 127.0.<block>.i (default 0: 127.0.0.i). For a second cluster beside the first, give " +
                          "another block and another --base_dir, e.g. --address_block 5 --base_dir /tmp/second-cluster.",
            DefaultValueFactory = _ => 0,
        };
        var pgBinDir = new Option<string?>("--pg_bin_dir") { Description = "Folder of initdb, pg_ctl and postgres.", Hidden = true };
        var faultProxy = new Option<bool>("--fault_proxy")
        {
            Description = "Put a fault-injecting TCP proxy on every node's address (the servers listen on 127.1.x.i); see the fault command.",
        };
        var tls = new Option<bool>("--tls")
        {
            Description = "Serve TLS: a certificate authority of the cluster's own (status shows its file) and a certificate per node " +
                          "naming its address; user bigmath connects over TLS only (sslmode=verify-full sslrootcert=<ca.crt>).",
        };
        var publicAddresses = new Option<bool>("--public_addresses")
        {
            Description = "Give each node a second, public address 127.2.<block>.i that its server listens on too and yb_servers() reports in public_ip.",
        };
        var hostNames = new Option<bool>("--hostnames")
        {
            Description = "Give each node a host name (node<i>.cluster<block>.brightdb.test, written to /etc/hosts: needs root) that yb_servers() reports instead of its address.",
        };
        var reportConnections = new Option<bool>("--report_connections")
        {
            Description = "Make yb_servers() report each node's true number of client connections in num_connections (0 otherwise, as YugabyteDB).",
        };
        var command = new Command("create",
            "Create and start a cluster. Node i listens on 127.0.0.i:2521 (the PostgreSQL protocol; user bigmath, password bigmath, " +
            "database bigmath; yb_servers() lists the nodes) and serves its rpcz page at http://127.0.0.i:8100/rpcz. Example: " +
            "bm-dev-ctl create --rf 3 --placement_info \"aws.us-west.us-west-2a,aws.us-west.us-west-2a,aws.us-west.us-west-2b\"")
        {
            rf, placementInfo, numNodes, port, addressBlock, pgBinDir, faultProxy, tls, publicAddresses, hostNames, reportConnections,
        };
        command.SetAction(async (parse, ct) =>
        {
            var specs = PlanNodes(parse.GetValue(rf), parse.GetValue(numNodes), parse.GetValue(placementInfo));
            var portValue = parse.GetValue(port);
            if (portValue is < 1 or > 65535)
            {
                throw new UsageException($"--port {portValue} is not a TCP port.");
            }

            var block = parse.GetValue(addressBlock);
            if (block is < 0 or > 255)
            {
                throw new UsageException($"--address_block {block} is not within 0..255.");
            }

            var directory = CliContext.ResolveBaseDirectory(parse.GetValue(baseDir));
            if (LocalCluster.TryAttach(directory) is { } existing)
            {
                await existing.DisposeAsync();
                throw new CommandFailedException($"A cluster already exists in {directory}. Destroy it first: bm-dev-ctl destroy");
            }

            var watch = Stopwatch.StartNew();
            context.Console.WriteLine($"Creating a {specs.Count}-node cluster (rf {parse.GetValue(rf)}) in {directory} ...");
            // Progress per node: a spinner naming each node's state in a terminal, and a line per node as it starts and runs.
            var states = new SortedDictionary<int, string>();
            var progressGate = new Lock();
            LocalCluster cluster = null!;
            await context.Console.Status().StartAsync("Starting the nodes ...", async status =>
            {
                cluster = await LocalCluster.StartAsync(new LocalClusterOptions
                {
                    Nodes = specs,
                    Port = portValue,
                    BaseDirectory = directory,
                    AddressBlock = block,
                    PostgresBinDirectory = parse.GetValue(pgBinDir),
                    StartRpcz = false,
                    FaultProxy = parse.GetValue(faultProxy),
                    ServeFaultProxy = false,
                    Tls = parse.GetValue(tls),
                    PublicAddresses = parse.GetValue(publicAddresses),
                    ReportConnections = parse.GetValue(reportConnections),
                    HostNames = parse.GetValue(hostNames),
                    NodeProgress = (node, state) =>
                    {
                        lock (progressGate)
                        {
                            states[node.Index] = state;
                            context.Console.WriteLine($"  node {node.Index} ({node.Address}, {node.Placement}): {state}");
                            // Redirected, Spectre writes each status as a line of its own: the lines above say it already.
                            if (context.Console.Profile.Capabilities.Interactive)
                                status.Status(string.Join(", ", states.Select(s => $"node {s.Key} {s.Value}")));
                        }
                    },
                }, ct);
            });
            // The servers must outlive this process; rpcz (and the fault proxies) are served by a detached process of our own.
            cluster.Detach();
            try
            {
                await RpczLauncher.StartAsync(cluster, ct);
            }
            catch
            {
                await cluster.DestroyAsync();
                throw;
            }

            await Views.StatusAsync(context.Console, cluster, ct);
            context.Console.WriteLine($"Cluster created in {watch.Elapsed.TotalSeconds:0.0} s. Connect with:");
            var tlsParameters = cluster.TlsRootCertificateFile is { } root ? $" sslmode=verify-full sslrootcert={root}" : "";
            context.Console.WriteLine($"  psql \"host={cluster.Nodes[0].Host} port={cluster.Nodes[0].Port} user=bigmath password={cluster.Password} dbname=bigmath{tlsParameters}\"");
            context.Console.WriteLine($"Watch it live: http://{cluster.Nodes[0].Host}:{cluster.Nodes[0].RpczPort}/ in a browser (or bm-dev-ctl dashboard).");
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>num_nodes defaults to rf; placements are reused in turn when fewer than the nodes (as yb-ctl does).</summary>
    internal static IReadOnlyList<NodeSpec> PlanNodes(int rf, int? numNodes, string? placementInfo)
    {
        if (rf < 1)
        {
            throw new UsageException($"--rf {rf} must be at least 1.");
        }

        var count = numNodes ?? rf;
        if (count < rf)
        {
            throw new UsageException($"--num_nodes {count} is less than --rf {rf}.");
        }

        if (count > 254)
        {
            throw new UsageException($"--num_nodes {count}: at most 254 nodes.");
        }

        var texts = placementInfo is null ? [DefaultPlacement] : placementInfo.Split(',').Select(p => p.Trim()).ToArray();
        var placements = texts.Select(t => Placement.TryParse(t, out var p)
            ? p
            : throw new UsageException($"--placement_info: '{t}' is not of the form cloud.region.zone (e.g. aws.us-west.us-west-2a).")).ToList();
        if (placements.Count > count)
        {
            throw new UsageException($"--placement_info lists {placements.Count} placements for {count} nodes: give at most one per node.");
        }

        return [.. Enumerable.Range(0, count).Select(i => new NodeSpec(placements[i % placements.Count]))];
    }

    public static Command Destroy(CliContext context, Option<string?> baseDir)
    {
        var command = new Command("destroy", "Stop every server and the rpcz pages, and delete the cluster's data. Example: bm-dev-ctl destroy");
        command.SetAction(async (parse, ct) =>
        {
            var directory = CliContext.ResolveBaseDirectory(parse.GetValue(baseDir));
            var cluster = CliContext.Attach(directory);
            var watch = Stopwatch.StartNew();
            await cluster.DestroyAsync();
            context.Console.WriteLine($"Cluster in {directory} destroyed ({watch.Elapsed.TotalSeconds:0.0} s).");
            return ExitCodes.Success;
        });
        return command;
    }

    public static Command Status(CliContext context, Option<string?> baseDir) =>
        View("status", "Show the nodes: address, placement, type, state and client connections.", context, baseDir, Views.StatusAsync);

    public static Command Conns(CliContext context, Option<string?> baseDir) =>
        View("conns", "Client connections per node, from each node's pg_stat_activity.", context, baseDir, Views.ConnectionsAsync);

    public static Command YbServers(CliContext context, Option<string?> baseDir)
    {
        var node = new Option<int>("--node") { Description = "The node to ask (default 1).", DefaultValueFactory = _ => 1 };
        var command = new Command("yb_servers", "Show what select * from yb_servers() returns on a node (as user bigmath). Example: bm-dev-ctl yb_servers --node 2") { node };
        command.SetAction(async (parse, ct) =>
        {
            await using var cluster = CliContext.Attach(CliContext.ResolveBaseDirectory(parse.GetValue(baseDir)));
            var index = parse.GetValue(node);
            var target = CliContext.ExistingNode(cluster, index);
            var rows = await cluster.QueryYbServersAsync(index, ct);
            Views.YbServers(context.Console, target, rows);
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>A command that shows a view of the cluster and changes nothing.</summary>
    static Command View(string name, string description, CliContext context, Option<string?> baseDir,
        Func<IAnsiConsole, LocalCluster, CancellationToken, Task> show)
    {
        var command = new Command(name, $"{description} Example: bm-dev-ctl {name}");
        command.SetAction(async (parse, ct) =>
        {
            await using var cluster = CliContext.Attach(CliContext.ResolveBaseDirectory(parse.GetValue(baseDir)));
            await show(context.Console, cluster, ct);
            return ExitCodes.Success;
        });
        return command;
    }
}
