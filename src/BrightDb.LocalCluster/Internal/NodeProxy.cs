using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace BrightDb.LocalCluster.Internal;

/// <summary>
/// The fault proxy of one node: listens on the node's address, forwards every accepted connection to the node's server and
/// injects the node's current fault. It listens only while the server is running or paused and the fault does not refuse
/// new connections, so a connect to a stopped or killed node is refused as it would be without the proxy.
/// </summary>
sealed class NodeProxy(LocalNode node) : IAsyncDisposable
{
    readonly Lock _lock = new();
    readonly HashSet<ProxyConnection> _connections = [];
    readonly List<Task> _running = [];
    readonly CancellationTokenSource _closing = new();
    readonly IPEndPoint _endpoint = new(IPAddress.Parse(node.Host), node.Port);
    readonly int _index = node.Index;
    Socket? _listener;
    Task _acceptLoops = Task.CompletedTask;
    NodeFault _fault = NodeFault.None;
    TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    bool _closed;

    /// <summary>Where the node's server listens.</summary>
    public IPEndPoint Server { get; } = new(IPAddress.Parse(node.ServerHost), node.ServerPort);

    /// <summary>The fault injected now.</summary>
    public NodeFault Fault => Volatile.Read(ref _fault);

    /// <summary>Completes when the fault changes next; read it before <see cref="Fault"/> to wait for a change without missing one.</summary>
    public Task Changed => Volatile.Read(ref _changed).Task;

    /// <summary>Injects <paramref name="fault"/> from now on (an equal fault changes nothing, so reset counts go on) and listens
    /// or stops listening as the fault and the server's state require.</summary>
    /// <exception cref="LocalClusterException">The node's address cannot be listened on.</exception>
    public void Apply(NodeFault fault, bool serverUp)
    {
        lock (_lock)
        {
            if (_closed)
            {
                return;
            }

            if (fault != _fault)
            {
                Volatile.Write(ref _fault, fault);
                var previous = _changed;
                Volatile.Write(ref _changed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
                previous.TrySetResult();
            }

            var listen = serverUp && !fault.RefusesNewConnections;
            if (listen && _listener is null)
            {
                _listener = Listen();
                var listener = _listener;
                _acceptLoops = Task.WhenAll(_acceptLoops, Task.Run(() => AcceptLoopAsync(listener)));
            }
            else if (!listen && _listener is not null)
            {
                _listener.Dispose();
                _listener = null;
            }
        }
    }

    /// <summary>Stops listening and closes every connection at once.</summary>
    public void Close()
    {
        List<ProxyConnection> open;
        lock (_lock)
        {
            if (_closed)
            {
                return;
            }

            _closed = true;
            _listener?.Dispose();
            _listener = null;
            open = [.. _connections];
        }

        _closing.Cancel();
        foreach (var connection in open)
        {
            connection.Abort();
        }
    }

    /// <summary>Closes everything and waits until no task of the proxy runs.</summary>
    /// <returns>A task completing when the proxy is gone.</returns>
    public async ValueTask DisposeAsync()
    {
        Close();
        await _acceptLoops.ConfigureAwait(false);
        Task[] running;
        lock (_lock)
        {
            running = [.. _running];
        }

        await Task.WhenAll(running).ConfigureAwait(false);
        _closing.Dispose();
    }

    Socket Listen()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            socket.Bind(_endpoint);
            socket.Listen(512);
            return socket;
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new LocalClusterException(
                $"The fault proxy of node {_index.ToString(CultureInfo.InvariantCulture)} cannot listen on {_endpoint}: {ex.Message}", ex);
        }
    }

    async Task AcceptLoopAsync(Socket listener)
    {
        while (true)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(_closing.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
            {
                return;
            }

            client.NoDelay = true;
            var connection = new ProxyConnection(this, client);
            lock (_lock)
            {
                if (_closed)
                {
                    connection.Abort();
                    return;
                }

                _connections.Add(connection);
                _running.RemoveAll(t => t.IsCompleted);
                _running.Add(RunAsync(connection, Fault.HangsNewConnections));
            }
        }
    }

    async Task RunAsync(ProxyConnection connection, bool hang)
    {
        try
        {
            await connection.RunAsync(hang, _closing.Token).ConfigureAwait(false);
        }
        finally
        {
            lock (_lock)
            {
                _connections.Remove(connection);
            }
        }
    }
}
