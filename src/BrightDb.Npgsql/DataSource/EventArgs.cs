namespace BrightDb.Npgsql;

/// <summary>The old and new topology of a <see cref="BrightDbDataSource.TopologyChanged"/> event.</summary>
public sealed class TopologyChangedEventArgs(ClusterTopology? oldTopology, ClusterTopology newTopology) : EventArgs
{
    /// <summary>The snapshot before the change; <see langword="null"/> on the first discovery.</summary>
    public ClusterTopology? OldTopology { get; } = oldTopology;

    /// <summary>The snapshot now in use.</summary>
    public ClusterTopology NewTopology { get; } = newTopology;
}

/// <summary>A server that was marked down or came back.</summary>
public sealed class ServerStatusEventArgs(string host, int port, string? reason) : EventArgs
{
    /// <summary>The address the driver connects to.</summary>
    public string Host { get; } = host;

    /// <summary>The server's port.</summary>
    public int Port { get; } = port;

    /// <summary>Why it was marked down (PostgreSQL's or the network's error, never a password); <see langword="null"/> when it came back.</summary>
    public string? Reason { get; } = reason;
}
