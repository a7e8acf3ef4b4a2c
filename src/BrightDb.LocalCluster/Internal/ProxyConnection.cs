using System.Net.Sockets;

namespace BrightDb.LocalCluster.Internal;

/// <summary>
/// One client connection through a <see cref="NodeProxy"/>: connects to the server and runs a <see cref="ProxyPump"/> each way,
/// or, accepted under <see cref="NodeFault.Hang"/>, reads and drops what the client sends and never answers. It counts the
/// bytes forwarded under a reset fault and ends either closed (both sockets) or reset (RST to the client).
/// </summary>
sealed class ProxyConnection(NodeProxy proxy, Socket client)
{
    static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(10);

    readonly Socket _server = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    readonly CancellationTokenSource _ended = new();
    readonly Lock _lock = new();
    NodeFault? _countingFor;
    long _forwarded;
    int _closed;

    /// <summary>Forwards until either side closes, the connection is reset or aborted, or <paramref name="closing"/> is cancelled.</summary>
    public async Task RunAsync(bool hang, CancellationToken closing)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(closing, _ended.Token);
        var ct = linked.Token;
        try
        {
            if (hang)
            {
                var sink = new byte[4096];
                while (await client.ReceiveAsync(sink, SocketFlags.None, ct).ConfigureAwait(false) > 0)
                {
                }

                return;
            }

            try
            {
                using var connect = CancellationTokenSource.CreateLinkedTokenSource(ct);
                connect.CancelAfter(ConnectTimeout);
                await _server.ConnectAsync(proxy.Server, connect.Token).ConfigureAwait(false);
                _server.NoDelay = true;
            }
            catch (Exception ex) when (ex is SocketException or OperationCanceledException && !closing.IsCancellationRequested)
            {
                // The server is gone (or hangs before accepting): the client sees a reset, not a silent success.
                Reset();
                return;
            }

            await Task.WhenAll(
                new ProxyPump(proxy, this, client, _server, down: false).RunAsync(ct),
                new ProxyPump(proxy, this, _server, client, down: true).RunAsync(ct)).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or IOException or ObjectDisposedException or OperationCanceledException)
        {
            // Closed from either side, or by the proxy: nothing more to forward.
        }
        finally
        {
            Abort();
            _ended.Dispose();
        }
    }

    /// <summary>How many of <paramref name="length"/> bytes may still be forwarded under <paramref name="fault"/>; fewer means the
    /// connection must be reset after them. Counting starts over whenever the node's fault changes.</summary>
    public int Allowance(NodeFault fault, int length)
    {
        if (fault.ResetAfterBytes is not { } limit)
        {
            return length;
        }

        lock (_lock)
        {
            if (!ReferenceEquals(fault, _countingFor))
            {
                _countingFor = fault;
                _forwarded = 0;
            }

            var allowed = (int)Math.Min(length, Math.Max(0, limit - _forwarded));
            _forwarded += allowed;
            return allowed;
        }
    }

    /// <summary>Resets the client (RST: close with a zero linger time) and closes the server side.</summary>
    public void Reset()
    {
        if (Volatile.Read(ref _closed) == 0)
        {
            try
            {
                client.LingerState = new LingerOption(true, 0);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                // Already closed: nothing to reset.
            }
        }

        Abort();
    }

    /// <summary>Closes both sockets (once) and ends the pumps.</summary>
    public void Abort()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }

        try
        {
            _ended.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The connection already ended.
        }

        client.Dispose();
        _server.Dispose();
    }
}
