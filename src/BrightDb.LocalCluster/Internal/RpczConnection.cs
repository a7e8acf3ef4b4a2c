namespace BrightDb.LocalCluster.Internal;

/// <summary>One client connection as rpcz reports it.</summary>
sealed record RpczConnection(
    string BackendType, string? DbName, string? User, string? Host, int? Port, string? ApplicationName, string? BackendStatus, string? Query);
