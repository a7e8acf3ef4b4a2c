using System.Runtime.CompilerServices;
using Npgsql;

namespace BrightDb.Npgsql.Balancing;

/// <summary>
/// Connections that Npgsql's failover opened on another server than the one whose data source created them. Each is
/// counted on the server it reached, remembered until it closes, and is the evidence that its own server was passed over:
/// that server is marked down, and its pools cleared so that the stray is closed when returned rather than kept idle in a
/// pool that is not its server's.
/// </summary>
/// <remarks>Off the hot path: an open that reached its own server never gets here.</remarks>
sealed class StrayConnections(Func<string?, int, ServerEndpoint?> find, ServerHealth health, int poolCapacity) : IStrayConnections
{
    readonly ConditionalWeakTable<NpgsqlConnection, ServerEndpoint> _reached = new();

    public ServerEndpoint Opened(ServerEndpoint owner, NpgsqlConnection connection)
    {
        if (find(connection.Host, connection.Port) is not { } reached || reached == owner)
            return owner;

        ServerEndpoint.MoveStray(owner, reached, +1);
        _reached.AddOrUpdate(connection, reached);
        // A full pool is passed over too (Npgsql then opens on the next host): the server is fine, only busy.
        if (owner.OpenConnections < poolCapacity)
            health.PassedOver(owner, reached);
        return reached;
    }

    public ServerEndpoint? Closed(ServerEndpoint owner, NpgsqlConnection connection)
    {
        if (!_reached.TryGetValue(connection, out var reached))
            return null;
        _reached.Remove(connection);
        ServerEndpoint.MoveStray(owner, reached, -1);
        return reached;
    }

    public void Answered(ServerEndpoint server) => health.MarkUp(server);
}
