namespace BrightDb.LocalCluster.Internal;

/// <summary>
/// Makes cluster objects. <see cref="StartAsync"/> creates and starts a cluster from its options: checks them, claims an address block, checks every address is free,
/// prepares the base directory, starts every node from the template in parallel and records the cluster. A start that
/// fails half-way leaves nothing behind: what started is stopped, what was created is deleted, the block is released.
/// <see cref="TryAttach"/> makes an object for an existing cluster from its state file.
/// </summary>
static class ClusterLauncher
{
    public static async Task<LocalCluster> StartAsync(LocalClusterOptions options, CancellationToken cancellationToken)
    {
        Validate(options);
        var pg = await PostgresInstallation.FindAsync(options.PostgresBinDirectory, cancellationToken).ConfigureAwait(false);
        var singleAddress = options.SingleAddress || !AddressPlan.LoopbackAliasesWork;
        var lease = options.AddressBlock is { } block
            ? AddressBlockLease.Fixed(block)
            : await AddressBlockLease.AcquireAsync(options.Port, options.RpczPort, singleAddress, cancellationToken).ConfigureAwait(false);
        LocalCluster? cluster = null;
        string? createdBaseDirectory = null;
        try
        {
            var plan = new AddressPlan(lease.Block, singleAddress, options.Port, options.RpczPort);
            for (var i = 1; i <= options.Nodes.Count; i++)
            {
                AddressPlan.EnsureFree(plan.Host(i), plan.SqlPort(i));
                if (options.FaultProxy)
                {
                    AddressPlan.EnsureFree(plan.ServerHost(i), plan.ServerPort(i));
                }

                if (options.PublicAddresses && plan.PublicHost(i) is { } publicHost)
                {
                    AddressPlan.EnsureFree(publicHost, plan.SqlPort(i));
                }

                if (options.StartRpcz)
                {
                    AddressPlan.EnsureFree(plan.Host(i), plan.HttpPort(i));
                }
            }

            var (baseDirectory, owns) = ClusterDirectories.Prepare(options.BaseDirectory, pg.Account);
            createdBaseDirectory = owns ? baseDirectory : null;
            lease.Record(baseDirectory);
            var template = await TemplateDataDirectory.EnsureAsync(pg, options.WithYbServers, cancellationToken).ConfigureAwait(false);
            var store = ClusterStore.Create(baseDirectory,
                new ClusterSettings(Guid.NewGuid().ToString("N"), plan, options.Password, owns, options.WithYbServers, pg.BinDirectory,
                    options.FaultProxy, options.Tls, options.PublicAddresses && plan.PublicHost(1) is not null,
                    options.ReportConnections, options.HostNames));
            if (options.Tls)
            {
                ClusterCertificates.EnsureAuthority(baseDirectory);
                ClusterCertificates.EnsureClient(baseDirectory);
            }

            var servers = new ServerControl(store, options.StartTimeout, pg, options.ExtraNodeConfiguration, options.TlsWrongCertificateNodes.ToHashSet());
            cluster = new LocalCluster(store, servers, lease, destroysOnDispose: true);
            List<LocalNode> nodes = [.. options.Nodes.Select((spec, i) => store.NewNode(i + 1, spec))];
            if (options.HostNames)
            {
                HostsFile.Set(plan.Block, HostsFile.EntriesOf(nodes));
            }

            store.Record(nodes, NodeState.Stopped, isMember: false);
            var starts = nodes.Select(async n =>
            {
                options.NodeProgress?.Invoke(n, "starting");
                await servers.CreateAndStartAsync(pg, template, n, cancellationToken).ConfigureAwait(false);
                options.NodeProgress?.Invoke(n, "running");
            }).ToList();
            await WhenAllOrAggregate(starts, "The cluster did not start").ConfigureAwait(false);
            store.Record(nodes, NodeState.Running, isMember: true);
            if (options.Password != ServerSetup.DefaultPassword)
            {
                await Task.WhenAll(nodes.Select(n => AdminSql.SetPasswordAsync(n, options.Password, cancellationToken))).ConfigureAwait(false);
            }

            if (options.StartRpcz)
            {
                cluster.ServeRpcz();
            }

            if (options.FaultProxy && options.ServeFaultProxy)
            {
                cluster.ServeFaultProxy();
            }

            return cluster;
        }
        catch
        {
            if (cluster is not null)
            {
                await cluster.DestroyAsync().ConfigureAwait(false);
            }
            else
            {
                if (createdBaseDirectory is not null)
                {
                    ClusterDirectories.TryDelete(createdBaseDirectory);
                }

                lease.Dispose();
            }

            throw;
        }
    }

    /// <summary>The cluster recorded in <paramref name="baseDirectory"/> (disposing it leaves it running), or null when there is none.</summary>
    public static LocalCluster? TryAttach(string baseDirectory)
    {
        var store = ClusterStore.TryLoad(baseDirectory);
        return store is null
            ? null
            : new LocalCluster(store, new ServerControl(store, TimeSpan.FromSeconds(60), installation: null, extraConfiguration: null),
                AddressBlockLease.Fixed(store.Settings.Plan.Block), destroysOnDispose: false);
    }

    static void Validate(LocalClusterOptions options)
    {
        if (options.Nodes is null || options.Nodes.Count == 0)
        {
            throw new ArgumentException("A cluster needs at least one node.", nameof(options));
        }

        if (!options.Tls && options.TlsWrongCertificateNodes.Count > 0)
        {
            throw new ArgumentException("TlsWrongCertificateNodes needs Tls.", nameof(options));
        }

        if (options.TlsWrongCertificateNodes.Where(i => i < 1 || i > options.Nodes.Count).Select(i => (int?)i).FirstOrDefault() is { } bad)
        {
            throw new ArgumentException($"TlsWrongCertificateNodes lists node {bad}; the cluster has nodes 1 to {options.Nodes.Count}.", nameof(options));
        }

        if (options.HostNames && !HostsFile.Writable())
        {
            throw new ArgumentException("HostNames writes the nodes' names to /etc/hosts, which this process cannot write: run as root.", nameof(options));
        }

        if (options.Nodes.Count > AddressPlan.MaxNodes)
        {
            throw new ArgumentException($"A cluster has at most {AddressPlan.MaxNodes} nodes.", nameof(options));
        }

        if (options.Nodes.Any(n => n is null))
        {
            throw new ArgumentException("A node spec is null.", nameof(options));
        }

        if (options.Port is < 1 or > 65535 || options.RpczPort is < 1 or > 65535)
        {
            throw new ArgumentException("Ports must be within 1..65535.", nameof(options));
        }

        if (options.AddressBlock is < 0 or > 255)
        {
            throw new ArgumentException("The address block must be within 0..255.", nameof(options));
        }

        if (string.IsNullOrEmpty(options.Password))
        {
            throw new ArgumentException("The password must not be empty.", nameof(options));
        }
    }

    static async Task WhenAllOrAggregate(IReadOnlyList<Task> tasks, string message)
    {
        try
        {
            await Task.WhenAll(tasks).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            throw;
        }
        catch (Exception)
        {
            var errors = tasks.Where(t => t.IsFaulted).SelectMany(t => t.Exception!.InnerExceptions).ToList();
            if (errors.Count == 1)
            {
                throw new LocalClusterException($"{message}: {errors[0].Message}", errors[0]);
            }

            throw new LocalClusterException($"{message}:\n" + string.Join("\n\n", errors.Select(e => e.Message)), new AggregateException(errors));
        }
    }
}
