using System.Globalization;

namespace BrightDb.LocalCluster.Internal;

/// <summary>Controls one node's postmaster: start through pg_ctl, everything else with signals we send ourselves.</summary>
static class NodeServer
{
    static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Copies the template into the node's directory and writes the node's own settings.</summary>
    public static async Task CreateAsync(PostgresInstallation pg, string templateData, LocalNode node, string membershipFile, string? extraConfiguration,
        CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(node.Directory);
        pg.Account.Own(node.Directory);
        var copy = await CommandRunner.RunAsync("cp", ["-a", templateData, node.DataDirectory], cancellationToken).ConfigureAwait(false);
        if (!copy.Succeeded)
        {
            throw new LocalClusterException($"Copying the template data directory for node {node.Index} failed:\n{copy.Output}");
        }

        var config = Path.Combine(node.DataDirectory, ServerSetup.NodeConfigName);
        await File.WriteAllTextAsync(config, $"""
            listen_addresses = '{node.ServerHost}{(node.PublicHost is null ? "" : "," + node.PublicHost)}'
            port = {node.ServerPort.ToString(CultureInfo.InvariantCulture)}
            unix_socket_directories = ''
            cluster_name = 'bigmath-node-{node.Index.ToString(CultureInfo.InvariantCulture)}'
            {extraConfiguration}

            """, cancellationToken).ConfigureAwait(false);
        pg.Account.Own(config);
        File.CreateSymbolicLink(Path.Combine(node.DataDirectory, ServerSetup.MembershipLinkName), membershipFile);
    }

    /// <summary>Starts the server and waits until it accepts connections; on failure the log's tail is in the exception.</summary>
    public static async Task StartAsync(PostgresInstallation pg, LocalNode node, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (PostmasterPid(node) is { } running)
        {
            throw new LocalClusterException($"Node {node.Index}: a server (pid {running}) already runs on {node.DataDirectory}.");
        }

        RemoveStaleLockFile(node);
        var seconds = Math.Max(1, (int)Math.Ceiling(timeout.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        var result = await pg.RunToolAsync("pg_ctl", ["start", "-w", "-t", seconds, "-D", node.DataDirectory, "-l", node.LogFile], cancellationToken).ConfigureAwait(false);
        if (!result.Succeeded)
        {
            // pg_ctl may give up while the postmaster still starts: leave nothing running behind a failure.
            await KillAsync(node, CancellationToken.None).ConfigureAwait(false);
            throw new LocalClusterException(
                $"Node {node.Index} ({node.Address}) did not start (pg_ctl exit {result.ExitCode}).\n{result.Output.Trim()}\n{LogTail.Read(node.LogFile)}");
        }
    }

    /// <summary>Stops the server: SIGINT is PostgreSQL's fast shutdown, SIGQUIT its immediate shutdown.</summary>
    public static async Task StopAsync(LocalNode node, int signal, CancellationToken cancellationToken)
    {
        if (PostmasterPid(node) is not { } pid)
        {
            RemoveStaleLockFile(node);
            return;
        }

        // A paused server would never act on the shutdown signal.
        Resume(pid);
        Native.Signal(pid, signal);
        var deadline = DateTime.UtcNow + StopTimeout;
        while (ProcessTable.IsAlive(pid))
        {
            if (DateTime.UtcNow > deadline)
            {
                await KillAsync(node, cancellationToken).ConfigureAwait(false);
                return;
            }

            await Task.Delay(20, cancellationToken).ConfigureAwait(false);
        }

        RemoveStaleLockFile(node);
    }

    /// <summary>SIGKILLs the postmaster and all its children, as a crash would, and waits until they are gone.</summary>
    public static async Task KillAsync(LocalNode node, CancellationToken cancellationToken)
    {
        if (PostmasterPid(node) is not { } pid)
        {
            RemoveStaleLockFile(node);
            return;
        }

        // Freeze the postmaster first so it cannot fork children we would miss.
        Native.Signal(pid, Native.SIGSTOP);
        var victims = Descendants(pid);
        Native.Signal(pid, Native.SIGKILL);
        foreach (var child in victims)
        {
            Native.Signal(child, Native.SIGKILL);
        }

        var deadline = DateTime.UtcNow + StopTimeout;
        while (ProcessTable.IsAlive(pid) || victims.Any(ProcessTable.IsAlive))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new LocalClusterException($"Node {node.Index}: processes of pid {pid} survived SIGKILL.");
            }

            await Task.Delay(10, cancellationToken).ConfigureAwait(false);
        }

        RemoveStaleLockFile(node);
    }

    /// <summary>SIGSTOPs the postmaster, then its children: the kernel still completes TCP handshakes, nobody answers.</summary>
    public static void Pause(LocalNode node)
    {
        var pid = PostmasterPid(node) ?? throw new LocalClusterException($"Node {node.Index} has no running server to pause.");
        Native.Signal(pid, Native.SIGSTOP);
        foreach (var child in Descendants(pid))
        {
            Native.Signal(child, Native.SIGSTOP);
        }
    }

    /// <summary>SIGCONTs the postmaster and its children.</summary>
    public static void Resume(LocalNode node)
    {
        if (PostmasterPid(node) is { } pid)
        {
            Resume(pid);
        }
    }

    static void Resume(int pid)
    {
        foreach (var child in Descendants(pid))
        {
            Native.Signal(child, Native.SIGCONT);
        }

        Native.Signal(pid, Native.SIGCONT);
    }

    /// <summary>The live postmaster of the node's data directory, from postmaster.pid.</summary>
    public static int? PostmasterPid(LocalNode node)
    {
        var lines = ReadLockFile(node);
        return lines is { Length: > 0 } && int.TryParse(lines[0], NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && ProcessTable.IsAlive(pid)
            ? pid
            : null;
    }

    static List<int> Descendants(int pid)
    {
        var all = new List<int>();
        var queue = new Queue<int>([pid]);
        while (queue.Count > 0)
        {
            foreach (var child in ProcessTable.Children(queue.Dequeue()))
            {
                all.Add(child);
                queue.Enqueue(child);
            }
        }

        return all;
    }

    static string[]? ReadLockFile(LocalNode node)
    {
        try
        {
            return File.ReadAllLines(Path.Combine(node.DataDirectory, "postmaster.pid"));
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>
    /// After a crash postmaster.pid stays behind; a zombie postmaster would make PostgreSQL believe it still runs. Its System V
    /// segment is removed too so repeated kills do not pile segments up.
    /// </summary>
    static void RemoveStaleLockFile(LocalNode node)
    {
        var lines = ReadLockFile(node);
        if (lines is null)
        {
            return;
        }

        if (lines.Length > 0 && int.TryParse(lines[0], NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && ProcessTable.IsAlive(pid))
        {
            return;
        }

        if (lines.Length > 6)
        {
            var parts = lines[6].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 2 && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var shmid))
            {
                Native.RemoveSharedMemory(shmid);
            }
        }

        File.Delete(Path.Combine(node.DataDirectory, "postmaster.pid"));
    }
}
