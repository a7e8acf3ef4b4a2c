using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace BrightDb.LocalCluster.Internal;

/// <summary>Where node i listens: 127.0.&lt;block&gt;.i on the SQL port, or one address with consecutive ports.</summary>
internal sealed record AddressPlan(int Block, bool SingleAddress, int Port, int RpczPort)
{
    public const int MaxNodes = 254;

    /// <summary>Ports are spread per block in single-address mode on 127.0.0.1 so automatic blocks never collide.</summary>
    private const int PortsPerBlock = 40;

    public string Host(int index) => SingleAddress
        ? (LoopbackAliasesWork && Block != 0 ? $"127.0.{Block.ToString(CultureInfo.InvariantCulture)}.1" : "127.0.0.1")
        : $"127.0.{Block.ToString(CultureInfo.InvariantCulture)}.{index.ToString(CultureInfo.InvariantCulture)}";

    public int SqlPort(int index) => SingleAddress ? FirstPort(Port, 20000) + index - 1 : Port;

    public int HttpPort(int index) => SingleAddress ? FirstPort(RpczPort, 40000) + index - 1 : RpczPort;

    /// <summary>On 127.0.0.1 an automatic block gets its own port range; the CLI's block 0 keeps the ports asked for.</summary>
    private int FirstPort(int requested, int rangeStart) =>
        Block == 0 || LoopbackAliasesWork ? requested : rangeStart + (Block * PortsPerBlock);

    public static void CheckIndex(int index)
    {
        if (index is < 1 or > MaxNodes)
        {
            throw new LocalClusterException($"A cluster has at most {MaxNodes} nodes (node index {index}).");
        }
    }

    /// <summary>Whether addresses of 127.0.0.0/8 other than 127.0.0.1 can be bound (they can on Linux).</summary>
    public static bool LoopbackAliasesWork { get; } = CanBind("127.0.0.2", 0) && CanBind("127.0.10.2", 0);

    /// <summary>True when nothing listens on the address (bound with SO_REUSEADDR, as PostgreSQL does, so TIME_WAIT does not count).</summary>
    public static bool CanBind(string host, int port)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            socket.Bind(new IPEndPoint(IPAddress.Parse(host), port));
            socket.Listen(1);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}

/// <summary>
/// An exclusive claim on an address block for the life of a cluster object: a lock file held open with FileShare.None (an
/// flock) so parallel test classes and processes never pick the same block. The file names the claimant's base directory, so
/// a cluster left behind by a crashed process can be cleaned up by the next claimant.
/// </summary>
internal sealed class AddressBlockLease : IDisposable
{
    private const int FirstBlock = 10;
    private const int LastBlock = 250;
    private FileStream? _lock;

    private AddressBlockLease(int block, FileStream? lockFile)
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
                await lease.ReapLeftoverAsync(cancellationToken);
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
    private async Task ReapLeftoverAsync(CancellationToken cancellationToken)
    {
        if (_lock is null || _lock.Length == 0)
        {
            return;
        }

        var buffer = new byte[_lock.Length];
        _lock.Position = 0;
        await _lock.ReadExactlyAsync(buffer, cancellationToken);
        var previous = System.Text.Encoding.UTF8.GetString(buffer);
        if (LocalCluster.TryAttach(previous) is { } leftover)
        {
            await leftover.DestroyAsync();
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
