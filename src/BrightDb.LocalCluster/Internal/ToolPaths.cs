namespace BrightDb.LocalCluster.Internal;

/// <summary>Machine-wide folders shared by every cluster of every process: the template cache and the address-block locks.</summary>
static class ToolPaths
{
    public static string Root { get; } = Path.Combine(Path.GetTempPath(), "brightdb-localcluster");

    public static string Blocks => Path.Combine(Root, "blocks");

    /// <summary>Creates a folder readable and traversable by everyone: the postgres account must reach templates and data.</summary>
    public static string EnsureShared(string path)
    {
        Directory.CreateDirectory(path);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        return path;
    }

    /// <summary>Opens a lock file exclusively, waiting up to <paramref name="timeout"/> for another holder to let go.</summary>
    public static async Task<FileStream> LockAsync(string path, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var stream = TryLock(path);
            if (stream is not null)
            {
                return stream;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new LocalClusterException($"Timed out waiting for the lock '{path}' held by another process.");
            }

            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Takes an exclusive lock (flock through FileShare.None) or returns null when another process holds it.</summary>
    public static FileStream? TryLock(string path)
    {
        try
        {
            return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException)
        {
            return null;
        }
    }
}
