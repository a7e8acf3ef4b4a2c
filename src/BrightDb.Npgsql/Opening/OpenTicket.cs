using BrightDb.Npgsql.Balancing;

namespace BrightDb.Npgsql.Opening;

/// <summary>
/// What one attempt holds on the server it chose: the count of an open in progress that <see cref="ServerSelector"/> took
/// when it chose the server, and, once entered, a place at the server's <see cref="ConnectGate"/>. <see cref="Release"/>
/// gives both back, exactly once however often it is called.
/// </summary>
/// <remarks>
/// A struct kept in the frame of the attempt that owns it, so that the open path allocates nothing for it. Ownership moves
/// by value (into <see cref="BalancedOpener"/>'s attempt); the copy left behind is not released.
/// </remarks>
struct OpenTicket(ServerEndpoint server)
{
    bool _hasPlace;
    bool _released;

    /// <summary>The server chosen.</summary>
    internal readonly ServerEndpoint Server => server;

    /// <summary>Takes a place at the server's gate if one is free now.</summary>
    internal bool TryEnterGate() => _hasPlace = server.Gate.TryEnter();

    /// <summary>Records the place at the gate that a wait obtained.</summary>
    internal void Entered() => _hasPlace = true;

    /// <summary>Gives back the place at the gate (if taken) and the count of the open in progress.</summary>
    internal void Release()
    {
        if (_released)
            return;
        _released = true;
        if (_hasPlace)
            server.Gate.Exit();
        server.Release();
    }
}
