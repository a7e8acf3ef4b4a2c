namespace BrightDb.LocalCluster.Internal;

/// <summary>
/// Where a cluster's files go and how they are removed: a fresh base directory, or the one asked for, which must not hold
/// another cluster and must be reachable by the account that runs the servers; and best-effort deletion during cleanup.
/// </summary>
static class ClusterDirectories
{
    /// <summary>Creates or checks the base directory; <c>Owns</c> says whether destroy may delete all of it.</summary>
    /// <exception cref="LocalClusterException">The directory holds a cluster, is a file, or cannot be reached by the servers.</exception>
    public static (string Path, bool Owns) Prepare(string? requested, ServerAccount account)
    {
        string path;
        bool owns;
        if (requested is null)
        {
            var parent = ToolPaths.EnsureShared(Path.Combine(ToolPaths.Root, "clusters"));
            path = Path.Combine(parent, Guid.NewGuid().ToString("N")[..12]);
            Directory.CreateDirectory(path);
            owns = true;
        }
        else
        {
            path = Path.GetFullPath(requested);
            if (File.Exists(Path.Combine(path, ClusterStore.StateFileName)))
            {
                throw new LocalClusterException($"A cluster already exists in {path}: destroy it first (bm-dev-ctl destroy). Nothing was changed.");
            }

            if (File.Exists(path))
            {
                throw new LocalClusterException($"The base directory {path} is a file.");
            }

            owns = !Directory.Exists(path) || !Directory.EnumerateFileSystemEntries(path).Any();
            if (!owns && Directory.EnumerateDirectories(path, "node-*").Any())
            {
                throw new LocalClusterException($"{path} holds node directories of an unknown cluster: remove them or choose another base directory.");
            }

            Directory.CreateDirectory(path);
        }

        ToolPaths.EnsureShared(path);
        if (account.RunAsRoot)
        {
            // The servers run as the postgres account: every folder above the data must be traversable by it.
            for (var dir = new DirectoryInfo(path).Parent; dir is not null; dir = dir.Parent)
            {
                if ((dir.UnixFileMode & UnixFileMode.OtherExecute) == 0)
                {
                    if (owns)
                    {
                        TryDelete(path);
                    }

                    throw new LocalClusterException(
                        $"The base directory {path} is not reachable by the '{account.UserName}' account that runs the servers ({dir.FullName} is not traversable). Choose a base directory under /tmp.");
                }
            }
        }

        return (path, owns);
    }

    /// <summary>Deletes a folder and what it holds, if it exists; failures are ignored.</summary>
    public static void TryDelete(string path)
    {
        try
        {
            if (Directory.Exists(path))
            {
                Directory.Delete(path, recursive: true);
            }
        }
        catch (IOException)
        {
            // Best effort during cleanup: the failure that triggered it matters more.
        }
        catch (UnauthorizedAccessException)
        {
            // Same.
        }
    }
}
