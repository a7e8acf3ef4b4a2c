namespace BrightDb.LocalCluster.Internal;

/// <summary>
/// Acts on the PostgreSQL servers of one cluster: finds the installation once, creates nodes from the template, and starts,
/// stops, kills, pauses, resumes and removes their servers. Whenever a server goes away, the tool's pooled connections to it
/// are dropped.
/// </summary>
sealed class ServerControl(
    ClusterStore store, TimeSpan startTimeout, PostgresInstallation? installation, Func<int, string?>? extraConfiguration,
    IReadOnlySet<int>? wrongCertificates = null)
{
    PostgresInstallation? _pg = installation;

    public async Task<PostgresInstallation> InstallationAsync(CancellationToken ct) =>
        _pg ??= await PostgresInstallation.FindAsync(store.Settings.BinDirectory, ct).ConfigureAwait(false);

    /// <summary>Copies the template into the node's directory and starts its server.</summary>
    public async Task CreateAndStartAsync(PostgresInstallation pg, string template, LocalNode node, CancellationToken ct)
    {
        var extra = extraConfiguration?.Invoke(node.Index);
        if (store.Settings.Tls)
        {
            extra = NodeTls.Configure(store.BaseDirectory, node, pg.Account, wrongCertificates?.Contains(node.Index) == true) + extra;
        }

        await NodeServer.CreateAsync(pg, template, node, store.MembershipFile, extra, ct).ConfigureAwait(false);
        await NodeServer.StartAsync(pg, node, startTimeout, ct).ConfigureAwait(false);
    }

    /// <summary>Creates and starts a new node with the cluster's password; on failure nothing of the node is left.</summary>
    public async Task AddAsync(LocalNode node, CancellationToken ct)
    {
        AddressPlan.EnsureFree(node.Host, node.Port);
        if (node.BehindFaultProxy)
        {
            AddressPlan.EnsureFree(node.ServerHost, node.ServerPort);
        }

        if (node.PublicHost is not null)
        {
            AddressPlan.EnsureFree(node.PublicHost, node.Port);
        }

        var pg = await InstallationAsync(ct).ConfigureAwait(false);
        var template = await TemplateDataDirectory.EnsureAsync(pg, store.Settings.WithYbServers, ct).ConfigureAwait(false);
        try
        {
            await CreateAndStartAsync(pg, template, node, ct).ConfigureAwait(false);
            if (store.Settings.Password != ServerSetup.DefaultPassword)
            {
                await AdminSql.SetPasswordAsync(node, store.Settings.Password, ct).ConfigureAwait(false);
            }
        }
        catch
        {
            await NodeServer.KillAsync(node, CancellationToken.None).ConfigureAwait(false);
            ClusterDirectories.TryDelete(node.Directory);
            throw;
        }
    }

    public async Task StartAsync(LocalNode node, CancellationToken ct) =>
        await NodeServer.StartAsync(await InstallationAsync(ct).ConfigureAwait(false), node, startTimeout, ct).ConfigureAwait(false);

    /// <summary>Stops the server with SIGINT (fast shutdown) or SIGQUIT (immediate shutdown).</summary>
    public async Task StopAsync(LocalNode node, int signal, CancellationToken ct)
    {
        await NodeServer.StopAsync(node, signal, ct).ConfigureAwait(false);
        AdminSql.Forget(node);
    }

    public async Task KillAsync(LocalNode node, CancellationToken ct)
    {
        await NodeServer.KillAsync(node, ct).ConfigureAwait(false);
        AdminSql.Forget(node);
    }

    public Task PauseAsync(LocalNode node)
    {
        NodeServer.Pause(node);
        return Task.CompletedTask;
    }

    public Task ResumeAsync(LocalNode node)
    {
        NodeServer.Resume(node);
        return Task.CompletedTask;
    }

    /// <summary>Shuts the server down at once and deletes the node's directory.</summary>
    public async Task RemoveAsync(LocalNode node, CancellationToken ct)
    {
        await StopAsync(node, Native.SIGQUIT, ct).ConfigureAwait(false);
        ClusterDirectories.TryDelete(node.Directory);
    }

    /// <summary>Shuts every server down at once (paused ones are resumed first), for destroy.</summary>
    public async Task StopAllAsync(IReadOnlyList<LocalNode> nodes)
    {
        await Task.WhenAll(nodes.Where(n => n.State != NodeState.Removed).Select(n => NodeServer.StopAsync(n, Native.SIGQUIT, CancellationToken.None))).ConfigureAwait(false);
        foreach (var node in nodes)
        {
            AdminSql.Forget(node);
        }
    }
}
