namespace BrightDb.LocalCluster;

/// <summary>One raw row of <c>yb_servers()</c>, for tests that feed a driver malformed discovery results.</summary>
/// <remarks>Every value may be <see langword="null"/> (SQL NULL) or anything else the column type allows, valid or not.</remarks>
/// <param name="Host">The <c>host</c> column.</param>
/// <param name="Port">The <c>port</c> column.</param>
/// <param name="NumConnections">The <c>num_connections</c> column.</param>
/// <param name="NodeType">The <c>node_type</c> column (<c>primary</c> or <c>read_replica</c> when valid).</param>
/// <param name="Cloud">The <c>cloud</c> column.</param>
/// <param name="Region">The <c>region</c> column.</param>
/// <param name="Zone">The <c>zone</c> column.</param>
/// <param name="PublicIp">The <c>public_ip</c> column.</param>
/// <param name="Uuid">The <c>uuid</c> column.</param>
/// <param name="UniverseUuid">The <c>universe_uuid</c> column.</param>
public sealed record YbServersRow(
    string? Host,
    long? Port,
    long? NumConnections,
    string? NodeType,
    string? Cloud,
    string? Region,
    string? Zone,
    string? PublicIp,
    string? Uuid,
    string? UniverseUuid);
