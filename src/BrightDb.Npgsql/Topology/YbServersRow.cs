namespace BrightDb.Npgsql.Topology;

/// <summary>One row of <c>yb_servers()</c> as read, before validation. Any field may be missing.</summary>
sealed record YbServersRow(
    string? Host, long? Port, string? NodeType, string? Cloud, string? Region, string? Zone, string? PublicIp, string? Uuid,
    long? NumConnections = null);
