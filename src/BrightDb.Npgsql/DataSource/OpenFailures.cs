using BrightDb.Npgsql.Balancing;

namespace BrightDb.Npgsql.DataSource;

/// <summary>What one open has tried so far: the servers not to choose again, and why each failed (for the final error).</summary>
internal sealed class OpenFailures
{
    internal HashSet<ServerEndpoint> Tried { get; } = [];

    internal List<(ServerEndpoint Server, Exception Error)> Errors { get; } = [];

    internal void Add(ServerEndpoint server, Exception error)
    {
        Tried.Add(server);
        Errors.Add((server, error));
    }
}
