using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace BrightDb.LocalCluster;

/// <summary>
/// The control channel of fault proxies that run in a process of their own (<c>bm-dev-ctl</c>'s detached helper): a Unix
/// socket in Linux's abstract namespace, named after the cluster's base directory (no file to clean up). A
/// <see cref="LocalCluster"/> whose proxies run elsewhere records a fault in the state file and asks, through this channel,
/// that the process apply the state now; the answer comes once the proxies follow it.
/// </summary>
public sealed class FaultProxyControl : IAsyncDisposable
{
    static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(15);

    readonly Socket _listener;
    readonly Func<CancellationToken, Task> _apply;
    readonly CancellationTokenSource _stopping = new();
    Task _loop = Task.CompletedTask;

    FaultProxyControl(Socket listener, Func<CancellationToken, Task> apply)
    {
        _listener = listener;
        _apply = apply;
    }

    /// <summary>Listens for the cluster in <paramref name="baseDirectory"/>; each request runs <paramref name="apply"/> once.</summary>
    /// <param name="baseDirectory">The cluster's base directory.</param>
    /// <param name="apply">Makes the proxies follow the state file; an exception is reported to the requester.</param>
    /// <returns>The listening channel; dispose it to stop.</returns>
    /// <exception cref="LocalClusterException">Another process already serves this cluster.</exception>
    public static FaultProxyControl Listen(string baseDirectory, Func<CancellationToken, Task> apply)
    {
        ArgumentNullException.ThrowIfNull(baseDirectory);
        ArgumentNullException.ThrowIfNull(apply);
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Bind(Endpoint(baseDirectory));
            socket.Listen(16);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new LocalClusterException($"The fault proxy control channel of {baseDirectory} is taken (another process serves it): {ex.Message}", ex);
        }

        var control = new FaultProxyControl(socket, apply);
        control._loop = Task.Run(control.AcceptLoopAsync);
        return control;
    }

    /// <summary>Asks the process serving the cluster's proxies to apply the state file, and waits for it to be done.</summary>
    /// <exception cref="LocalClusterException">No process serves the proxies, or applying failed.</exception>
    internal static async Task RequestApplyAsync(string baseDirectory, CancellationToken ct)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(RequestTimeout);
        string reply;
        try
        {
            await socket.ConnectAsync(Endpoint(baseDirectory), timeout.Token).ConfigureAwait(false);
            await socket.SendAsync("apply\n"u8.ToArray(), SocketFlags.None, timeout.Token).ConfigureAwait(false);
            reply = await ReadLineAsync(socket, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException && !ct.IsCancellationRequested)
        {
            throw new LocalClusterException(
                $"No fault proxy process answers for the cluster in {baseDirectory} (bm-dev-ctl starts one with create --fault_proxy): {ex.Message}", ex);
        }

        if (reply != "ok")
        {
            throw new LocalClusterException($"The fault proxy process of {baseDirectory} failed: {reply}");
        }
    }

    /// <summary>Stops listening and waits for the request being served.</summary>
    /// <returns>A task completing when the channel is closed.</returns>
    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        await _loop.ConfigureAwait(false);
        _stopping.Dispose();
    }

    static UnixDomainSocketEndPoint Endpoint(string baseDirectory)
    {
        var hash = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(Path.GetFullPath(baseDirectory))))[..32];
        return new UnixDomainSocketEndPoint($"\0brightdb-localcluster-proxy-{hash}");
    }

    static async Task<string> ReadLineAsync(Socket socket, CancellationToken ct)
    {
        var buffer = new byte[4096];
        var length = 0;
        while (length < buffer.Length)
        {
            var read = await socket.ReceiveAsync(buffer.AsMemory(length), SocketFlags.None, ct).ConfigureAwait(false);
            if (read == 0)
            {
                break;
            }

            length += read;
            if (buffer.AsSpan(0, length).Contains((byte)'\n'))
            {
                break;
            }
        }

        return Encoding.UTF8.GetString(buffer, 0, length).Split('\n')[0];
    }

    async Task AcceptLoopAsync()
    {
        while (true)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
            {
                return;
            }

            using (client)
            {
                await ServeAsync(client).ConfigureAwait(false);
            }
        }
    }

    async Task ServeAsync(Socket client)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        timeout.CancelAfter(RequestTimeout);
        try
        {
            if (await ReadLineAsync(client, timeout.Token).ConfigureAwait(false) != "apply")
            {
                return;
            }

            string reply;
            try
            {
                await _apply(timeout.Token).ConfigureAwait(false);
                reply = "ok";
            }
            catch (Exception ex) when (ex is LocalClusterException or IOException)
            {
                reply = ex.Message.ReplaceLineEndings(" ");
            }

            await client.SendAsync(Encoding.UTF8.GetBytes(reply + "\n"), SocketFlags.None, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException)
        {
            // The requester went away or was too slow.
        }
    }
}
