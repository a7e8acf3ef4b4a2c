using System.Globalization;

namespace BrightDb.LocalCluster.Internal;

/// <summary>
/// An exclusive claim on an address block for the life of a cluster object: a lock file held open with FileShare.None (an
/// flock) so parallel test classes and processes never pick the same block. The file names the claimant's base directory, so
/// a cluster left behind by a crashed process can be cleaned up by the next claimant.
/// </summary>
sealed class AddressBlockLease : IDisposable
{
    const int FirstBlock = 10;
    const int LastBlock = 250;
    FileStream? _lock;

    AddressBlockLease(int block, FileStream? lockFile)
    {
        Block = block;
        _lock = lockFile;
    }

    public int Block { get; }

    /// <summary>A block chosen by the caller: nothing is locked (the CLI's cluster outlives the process).</summary>
    public static AddressBlockLease Fixed(int block) => new(block, null);

    /// <summary>Claims a free block in 10..250, starting at a random one to keep contention low.</summary>
    public static async Task<AddressBlockLease> AcquireAsync(int port, int rpczPort, bool singleAddress, CancellationToken cancellationToken)
    {
        var dir = ToolPaths.EnsureShared(ToolPaths.Blocks);
        var count = LastBlock - FirstBlock + 1;
        var start = Random.Shared.Next(count);
        for (var i = 0; i < count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var block = FirstBlock + ((start + i) % count);
            var stream = ToolPaths.TryLock(Path.Combine(dir, $"{block.ToString(CultureInfo.InvariantCulture)}.lock"));
            if (stream is null)
            {
                continue;
            }

            var lease = new AddressBlockLease(block, stream);
            try
            {
                await lease.ReapLeftoverAsync(cancellationToken).ConfigureAwait(false);
                var plan = new AddressPlan(block, singleAddress, port, rpczPort);
                if (AddressPlan.CanBind(plan.Host(1), plan.SqlPort(1)) && AddressPlan.CanBind(plan.Host(1), plan.HttpPort(1)))
                {
                    return lease;
                }
            }
            catch
            {
                lease.Dispose();
                throw;
            }

            lease.Dispose();
        }

        throw new LocalClusterException($"No free address block in 127.0.{FirstBlock}.x .. 127.0.{LastBlock}.x: too many clusters running?");
    }

    /// <summary>Records which base directory the block serves.</summary>
    public void Record(string baseDirectory)
    {
        if (_lock is null)
        {
            return;
        }

        _lock.SetLength(0);
        var bytes = System.Text.Encoding.UTF8.GetBytes(baseDirectory);
        _lock.Write(bytes);
        _lock.Flush();
    }

    /// <summary>The previous holder died (its flock is gone) but its servers may still run: destroy what it left.</summary>
    async Task ReapLeftoverAsync(CancellationToken cancellationToken)
    {
        if (_lock is null || _lock.Length == 0)
        {
            return;
        }

        var buffer = new byte[_lock.Length];
        _lock.Position = 0;
        await _lock.ReadExactlyAsync(buffer, cancellationToken).ConfigureAwait(false);
        var previous = System.Text.Encoding.UTF8.GetString(buffer);
        if (LocalCluster.TryAttach(previous) is { } leftover)
        {
            await leftover.DestroyAsync().ConfigureAwait(false);
        }

        _lock.SetLength(0);
    }

    public void Dispose()
    {
        if (_lock is not null)
        {
            try
            {
                // Released cleanly: nothing for the next holder to reap.
                _lock.SetLength(0);
            }
            catch (IOException)
            {
                // The next holder finds the base directory gone and skips the reaping.
            }

            _lock.Dispose();
            _lock = null;
        }
    }
}
