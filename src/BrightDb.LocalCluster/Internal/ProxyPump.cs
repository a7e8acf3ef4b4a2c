using System.Diagnostics;
using System.Net.Sockets;
using System.Threading.Channels;

namespace BrightDb.LocalCluster.Internal;

/// <summary>
/// One direction of a <see cref="ProxyConnection"/>. A reader takes data off the source as it comes and stamps each chunk
/// with the time it is due (now + the fault's latency for this direction); a writer delivers the chunks at their due time,
/// so latency adds delay without capping throughput. The writer also paces (bandwidth), holds data going down while the node
/// stalls, and cuts the connection when a reset fault's byte count is reached. End of data is passed on as a half-close.
/// </summary>
sealed class ProxyPump(NodeProxy proxy, ProxyConnection connection, Socket from, Socket to, bool down)
{
    const int ChunkSize = 16 * 1024;

    readonly Channel<Chunk> _chunks = Channel.CreateBounded<Chunk>(new BoundedChannelOptions(64) { SingleReader = true, SingleWriter = true });

    /// <summary>Runs until the source ends and everything is delivered; any failure closes the whole connection.</summary>
    public Task RunAsync(CancellationToken ct) => Task.WhenAll(ReadAsync(ct), WriteAsync(ct));

    async Task ReadAsync(CancellationToken ct)
    {
        try
        {
            while (true)
            {
                var buffer = new byte[ChunkSize];
                var read = await from.ReceiveAsync(buffer, SocketFlags.None, ct).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                var due = Stopwatch.GetTimestamp() + (long)(proxy.Fault.DelayFor(down).TotalSeconds * Stopwatch.Frequency);
                await _chunks.Writer.WriteAsync(new Chunk(buffer, read, due), ct).ConfigureAwait(false);
            }

            _chunks.Writer.TryComplete();
        }
        catch (Exception ex) when (IsEnd(ex))
        {
            _chunks.Writer.TryComplete();
            connection.Abort();
        }
    }

    async Task WriteAsync(CancellationToken ct)
    {
        try
        {
            await foreach (var chunk in _chunks.Reader.ReadAllAsync(ct).ConfigureAwait(false))
            {
                // Timers run on a coarse clock and may fire a few milliseconds early: wait again until the due time has passed
                // on the high-resolution clock, so a latency fault never delivers anything before its delay.
                for (var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), chunk.Due);
                     wait > TimeSpan.Zero;
                     wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), chunk.Due))
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(Math.Ceiling(wait.TotalMilliseconds)), ct).ConfigureAwait(false);
                }

                if (down)
                {
                    await WhileStalledAsync(ct).ConfigureAwait(false);
                }

                var fault = proxy.Fault;
                var allowed = connection.Allowance(fault, chunk.Length);
                await SendAsync(chunk.Buffer.AsMemory(0, allowed), fault.BytesPerSecond, ct).ConfigureAwait(false);
                if (allowed < chunk.Length)
                {
                    connection.Reset();
                    return;
                }
            }

            to.Shutdown(SocketShutdown.Send);
        }
        catch (Exception ex) when (IsEnd(ex))
        {
            connection.Abort();
        }
    }

    async Task WhileStalledAsync(CancellationToken ct)
    {
        while (true)
        {
            var changed = proxy.Changed;
            if (!proxy.Fault.StallsServerToClient)
            {
                return;
            }

            await changed.WaitAsync(ct).ConfigureAwait(false);
        }
    }

    /// <summary>Sends everything; under a bandwidth limit in slices of a twentieth of a second's worth, each followed by its time.</summary>
    async Task SendAsync(ReadOnlyMemory<byte> data, long bytesPerSecond, CancellationToken ct)
    {
        var slice = bytesPerSecond > 0 ? (int)Math.Clamp(bytesPerSecond / 20, 1, ChunkSize) : data.Length;
        while (!data.IsEmpty)
        {
            var part = data[..Math.Min(slice, data.Length)];
            var length = part.Length;
            data = data[length..];
            while (!part.IsEmpty)
            {
                part = part[await to.SendAsync(part, SocketFlags.None, ct).ConfigureAwait(false)..];
            }

            if (bytesPerSecond > 0)
            {
                await Task.Delay(TimeSpan.FromSeconds((double)length / bytesPerSecond), ct).ConfigureAwait(false);
            }
        }
    }

    static bool IsEnd(Exception ex) =>
        ex is SocketException or IOException or ObjectDisposedException or OperationCanceledException or ChannelClosedException;

    /// <param name="Buffer">The bytes read.</param>
    /// <param name="Length">How many of them hold data.</param>
    /// <param name="Due">When the chunk may be delivered, a <see cref="Stopwatch"/> timestamp.</param>
    readonly record struct Chunk(byte[] Buffer, int Length, long Due);
}
