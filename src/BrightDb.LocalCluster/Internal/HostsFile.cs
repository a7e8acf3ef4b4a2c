using System.Globalization;

namespace BrightDb.LocalCluster.Internal;

/// <summary>
/// The host names of a cluster created with <see cref="LocalClusterOptions.HostNames"/>, in the machine's <c>/etc/hosts</c>
/// (what every resolver on the machine reads, Npgsql's included): one line per node, marked with the cluster's address
/// block so that they are replaced when the block is used again and removed when the cluster is destroyed. Writers on
/// the machine take a lock file first; the file is rewritten in place (it may be a bind mount, which a rename would break).
/// </summary>
static class HostsFile
{
    const string Marker = "# brightdb-local-cluster block ";

    /// <summary>Where the names go; <c>BM_HOSTS_FILE</c> points elsewhere for tests of this class.</summary>
    static string Path => Environment.GetEnvironmentVariable("BM_HOSTS_FILE") is { Length: > 0 } path ? path : "/etc/hosts";

    static string LockPath => System.IO.Path.Combine(System.IO.Path.GetTempPath(), "brightdb-hosts.lock");

    /// <summary>Node i's host name in the cluster of address block <paramref name="block"/>.</summary>
    public static string NameOf(int block, int index) =>
        string.Create(CultureInfo.InvariantCulture, $"node{index}.cluster{block}.brightdb.test");

    /// <summary>
    /// The lines of <paramref name="nodes"/> that have a name: the name resolves to the node's address and, when it has one,
    /// to its public address as well (a name with two addresses, both of which reach the node).
    /// </summary>
    public static IEnumerable<(string Name, string Address)> EntriesOf(IEnumerable<LocalNode> nodes)
    {
        foreach (var node in nodes)
        {
            if (node.HostName is null)
            {
                continue;
            }

            yield return (node.HostName, node.Host);
            if (node.PublicHost is not null)
            {
                yield return (node.HostName, node.PublicHost);
            }
        }
    }

    /// <summary>Whether this process may write the hosts file.</summary>
    public static bool Writable()
    {
        try
        {
            using var stream = new FileStream(Path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
            return true;
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            return false;
        }
    }

    /// <summary>Sets the lines of <paramref name="block"/> to <paramref name="entries"/> (name, address), replacing its old ones.</summary>
    public static void Set(int block, IEnumerable<(string Name, string Address)> entries) =>
        Rewrite(block, [.. entries.Select(e => $"{e.Address} {e.Name} {Marker}{block.ToString(CultureInfo.InvariantCulture)}")]);

    /// <summary>Removes the lines of <paramref name="block"/>; nothing when there are none or the file cannot be written.</summary>
    public static void Remove(int block)
    {
        try
        {
            Rewrite(block, []);
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            // Destroying a cluster never fails over its names; a later cluster on the block replaces them.
        }
    }

    static void Rewrite(int block, IReadOnlyList<string> added)
    {
        var mark = Marker + block.ToString(CultureInfo.InvariantCulture);
        using var gate = Lock();
        var lines = File.Exists(Path) ? File.ReadAllLines(Path) : [];
        var kept = lines.Where(l => !l.EndsWith(mark, StringComparison.Ordinal)).ToList();
        if (kept.Count == lines.Length && added.Count == 0)
        {
            return;
        }

        kept.AddRange(added);
        using var stream = new FileStream(Path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
        using var writer = new StreamWriter(stream);
        foreach (var line in kept)
        {
            writer.Write(line);
            writer.Write('\n');
        }

        writer.Flush();
        stream.SetLength(stream.Position);
    }

    /// <summary>An exclusive lock on the lock file (a flock on Linux), waited for up to 10 s.</summary>
    static FileStream Lock()
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            try
            {
                return new FileStream(LockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                Thread.Sleep(20);
            }
        }
    }
}
