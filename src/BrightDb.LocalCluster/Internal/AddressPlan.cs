using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace BrightDb.LocalCluster.Internal;

/// <summary>Where node i listens: 127.0.&lt;block&gt;.i on the SQL port, or one address with consecutive ports.</summary>
sealed record AddressPlan(int Block, bool SingleAddress, int Port, int RpczPort)
{
    public const int MaxNodes = 254;

    /// <summary>Ports are spread per block in single-address mode on 127.0.0.1 so automatic blocks never collide.</summary>
    const int PortsPerBlock = 40;

    public string Host(int index) => SingleAddress
        ? (LoopbackAliasesWork && Block != 0 ? $"127.0.{Block.ToString(CultureInfo.InvariantCulture)}.1" : "127.0.0.1")
        : $"127.0.{Block.ToString(CultureInfo.InvariantCulture)}.{index.ToString(CultureInfo.InvariantCulture)}";

    public int SqlPort(int index) => SingleAddress ? FirstPort(Port, 20000) + index - 1 : Port;

    public int HttpPort(int index) => SingleAddress ? FirstPort(RpczPort, 40000) + index - 1 : RpczPort;

    /// <summary>Where node i's server listens when a fault proxy listens on its address: the same port on
    /// <c>127.1.&lt;block&gt;.i</c> (nothing else uses 127.1.0.0/16), or, without loopback aliases, 127.0.0.1 with the port
    /// moved above every SQL and rpcz port range.</summary>
    public string ServerHost(int index) => LoopbackAliasesWork ? string.Concat("127.1.", Host(index).AsSpan("127.0.".Length)) : Host(index);

    /// <summary>Node i's second, "public" address, on the same port: <c>127.2.&lt;block&gt;.i</c>; none without loopback aliases.</summary>
    public string? PublicHost(int index) => LoopbackAliasesWork && !SingleAddress ? string.Concat("127.2.", Host(index).AsSpan("127.0.".Length)) : null;

    /// <summary>The port of <see cref="ServerHost"/>.</summary>
    public int ServerPort(int index) => LoopbackAliasesWork ? SqlPort(index) : SqlPort(index) + ServerPortOffset;

    /// <summary>Above 20000 + 250 * 40 (SQL ports of automatic blocks) and 40000 + 250 * 40 (their rpcz ports).</summary>
    const int ServerPortOffset = 30000;

    /// <summary>On 127.0.0.1 an automatic block gets its own port range; the CLI's block 0 keeps the ports asked for.</summary>
    int FirstPort(int requested, int rangeStart) =>
        Block == 0 || LoopbackAliasesWork ? requested : rangeStart + (Block * PortsPerBlock);

    public static void CheckIndex(int index)
    {
        if (index is < 1 or > MaxNodes)
        {
            throw new LocalClusterException($"A cluster has at most {MaxNodes} nodes (node index {index}).");
        }
    }

    /// <summary>Fails when something already listens on the address.</summary>
    /// <exception cref="LocalClusterException">The address is in use.</exception>
    public static void EnsureFree(string host, int port)
    {
        if (!CanBind(host, port))
        {
            throw new LocalClusterException(
                $"{host}:{port.ToString(CultureInfo.InvariantCulture)} is already in use (another cluster or server listens there). Nothing was changed.");
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
