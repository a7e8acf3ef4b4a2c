using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

using BrightDb.LocalCluster.Dashboard;
using BrightDb.LocalCluster.Internal;

namespace BrightDb.LocalCluster;

/// <summary>
/// A tiny HTTP responder on every node's address and rpcz port. One listener per node, reconciled with the cluster's nodes
/// by <see cref="Sync"/>. It serves:
/// <list type="bullet">
/// <item><c>GET /rpcz</c>: the node's client connections from its pg_stat_activity as JSON, the shape BrightDB's own rpcz
/// page has; as an HTML table when the request's <c>Accept</c> prefers <c>text/html</c> (a browser), unless
/// <c>?format=json</c>.</item>
/// <item><c>GET /</c>: the whole cluster's dashboard (<see cref="DashboardPage"/>), and <c>GET /api/cluster</c>, its data.
/// The cluster is sampled from the first such request until the server is disposed.</item>
/// </list>
/// </summary>
public sealed class RpczServer : IAsyncDisposable
{
    readonly Dictionary<int, Listener> _listeners = [];
    readonly Lock _gate = new();
    readonly CancellationTokenSource _stopping = new();
    IReadOnlyList<LocalNode> _nodes = [];

    // Created by the first request for the dashboard, under _gate; never after dispose.
    ClusterMonitor? _monitor;
    bool _disposed;

    /// <summary>The cluster's monitor, started on first use.</summary>
    /// <exception cref="ObjectDisposedException">The server is disposed.</exception>
    ClusterMonitor Monitor()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_monitor is null)
            {
                _monitor = new ClusterMonitor(_ => ValueTask.FromResult<IReadOnlyList<LocalNode>?>(Volatile.Read(ref _nodes)));
                _monitor.Start();
            }

            return _monitor;
        }
    }

    /// <summary>Opens listeners for new nodes and closes those of removed nodes.</summary>
    /// <param name="nodes">The cluster's nodes (removed ones included); every node not removed gets a listener.</param>
    /// <exception cref="LocalClusterException">A node's rpcz address cannot be listened on.</exception>
    public void Sync(IEnumerable<LocalNode> nodes)
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            Volatile.Write(ref _nodes, [.. nodes]);
            var wanted = _nodes.Where(n => n.State != NodeState.Removed).ToDictionary(n => n.Index);
            foreach (var index in _listeners.Keys.Where(k => !wanted.ContainsKey(k)).ToList())
            {
                _listeners[index].Stop();
                _listeners.Remove(index);
            }

            foreach (var node in wanted.Values.Where(n => !_listeners.ContainsKey(n.Index)))
            {
                var tcp = new TcpListener(IPAddress.Parse(node.Host), node.RpczPort);
                try
                {
                    tcp.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                    tcp.Start();
                }
                catch (SocketException ex)
                {
                    tcp.Dispose();
                    throw new LocalClusterException($"rpcz: cannot listen on {node.Host}:{node.RpczPort}: {ex.Message}", ex);
                }

                var listener = new Listener(tcp, node);
                _listeners[node.Index] = listener;
                listener.Loop = Task.Run(() => AcceptLoopAsync(listener, _stopping.Token));
            }
        }
    }

    /// <summary>Renders the JSON document for one node.</summary>
    internal static string Render(IReadOnlyList<RpczConnection> connections)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteStartArray("connections");
            foreach (var c in connections)
            {
                json.WriteStartObject();
                json.WriteString("backend_type", c.BackendType);
                json.WriteString("db_name", c.DbName);
                json.WriteString("user", c.User);
                json.WriteString("host", c.Host);
                if (c.Port is { } port)
                {
                    json.WriteNumber("port", port);
                }
                else
                {
                    json.WriteNull("port");
                }

                json.WriteString("application_name", c.ApplicationName);
                json.WriteString("backend_status", c.BackendStatus);
                json.WriteString("query", c.Query);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }

    async Task AcceptLoopAsync(Listener listener, CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested && !listener.Stopped.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await listener.Tcp.AcceptTcpClientAsync(listener.Stopped.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _ = Task.Run(() => ServeAsync(client, listener.Node, stopping), CancellationToken.None);
        }
    }

    async Task ServeAsync(TcpClient client, LocalNode node, CancellationToken stopping)
    {
        using var _ = client;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        timeout.CancelAfter(TimeSpan.FromSeconds(20));
        try
        {
            var stream = client.GetStream();
            var request = await ReadRequestAsync(stream, timeout.Token).ConfigureAwait(false);
            var (status, contentType, body) = request?.Path switch
            {
                null => (400, "text/plain", "bad request\n"),
                "/rpcz" => await RpczAsync(node, request.Value.WantsHtml, timeout.Token).ConfigureAwait(false),
                "/" => (200, "text/html", StartMonitor(DashboardPage.Html)),
                "/api/cluster" => (200, "application/json", DashboardJson.Serialize(await ClusterViewAsync(timeout.Token).ConfigureAwait(false)) + "\n"),
                _ => (404, "text/plain", "not found\n"),
            };
            var payload = Encoding.UTF8.GetBytes(body);
            var head = Encoding.ASCII.GetBytes(
                $"HTTP/1.1 {status.ToString(CultureInfo.InvariantCulture)} {Reason(status)}\r\nContent-Type: {contentType}; charset=utf-8\r\n" +
                $"Content-Length: {payload.Length.ToString(CultureInfo.InvariantCulture)}\r\nConnection: close\r\n\r\n");
            await stream.WriteAsync(head, timeout.Token).ConfigureAwait(false);
            await stream.WriteAsync(payload, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The client went away or was too slow, or the server is being disposed: nothing to answer.
        }
    }

    string StartMonitor(string page)
    {
        _ = Monitor();
        return page;
    }

    /// <summary>The last sample; the first request waits for one.</summary>
    async Task<ClusterView> ClusterViewAsync(CancellationToken cancellationToken)
    {
        var monitor = Monitor();
        return monitor.View.Nodes.Count > 0 ? monitor.View : await monitor.SampleAsync(cancellationToken).ConfigureAwait(false);
    }

    static async Task<(int, string, string)> RpczAsync(LocalNode node, bool html, CancellationToken cancellationToken)
    {
        try
        {
            var connections = await AdminSql.ClientBackendsAsync(node, cancellationToken).ConfigureAwait(false);
            return html ? (200, "text/html", DashboardPage.RenderRpcz(node, connections)) : (200, "application/json", Render(connections));
        }
        catch (Exception ex) when (ex is Npgsql.NpgsqlException or TimeoutException or IOException)
        {
            var error = JsonSerializer.Serialize(new Dictionary<string, string> { ["error"] = $"node {node.Index} ({node.Address}) did not answer: {ex.Message}" });
            return (503, "application/json", error + "\n");
        }
    }

    /// <summary>A request's path (without its query) and whether it asks for HTML.</summary>
    readonly record struct Request(string Path, bool WantsHtml);

    static async Task<Request?> ReadRequestAsync(NetworkStream stream, CancellationToken cancellationToken)
    {
        var buffer = new byte[8192];
        var length = 0;
        while (length < buffer.Length)
        {
            var read = await stream.ReadAsync(buffer.AsMemory(length), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                break;
            }

            length += read;
            if (buffer.AsSpan(0, length).IndexOf("\r\n\r\n"u8) >= 0)
            {
                break;
            }
        }

        var lines = Encoding.ASCII.GetString(buffer, 0, length).Split("\r\n");
        var requestLine = lines[0].Split(' ');
        if (requestLine.Length < 2 || requestLine[0] != "GET")
        {
            return null;
        }

        var target = requestLine[1];
        var queryStart = target.IndexOf('?', StringComparison.Ordinal);
        var query = queryStart >= 0 ? target[(queryStart + 1)..] : "";
        var accept = lines.Skip(1)
            .Where(l => l.StartsWith("Accept:", StringComparison.OrdinalIgnoreCase))
            .Select(l => l["Accept:".Length..].Trim())
            .FirstOrDefault();
        var jsonAsked = query.Split('&').Contains("format=json", StringComparer.OrdinalIgnoreCase);
        return new Request(queryStart >= 0 ? target[..queryStart] : target, !jsonAsked && DashboardPage.PrefersHtml(accept));
    }

    static string Reason(int status) => status switch
    {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        _ => "Service Unavailable",
    };

    /// <summary>Closes every listener and waits for their accept loops to end.</summary>
    /// <returns>A task completing when nothing listens any more.</returns>
    public async ValueTask DisposeAsync()
    {
        List<Listener> listeners;
        ClusterMonitor? monitor;
        lock (_gate)
        {
            listeners = [.. _listeners.Values];
            _listeners.Clear();
            _disposed = true;
            monitor = _monitor;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        foreach (var listener in listeners)
        {
            listener.Stop();
            if (listener.Loop is { } loop)
            {
                await loop.ConfigureAwait(false);
            }
        }

        if (monitor is not null)
        {
            await monitor.DisposeAsync().ConfigureAwait(false);
        }

        _stopping.Dispose();
    }

    sealed class Listener(TcpListener tcp, LocalNode node)
    {
        public TcpListener Tcp { get; } = tcp;

        public LocalNode Node { get; } = node;

        public CancellationTokenSource Stopped { get; } = new();

        public Task? Loop { get; set; }

        public void Stop()
        {
            Stopped.Cancel();
            Tcp.Stop();
        }
    }
}
