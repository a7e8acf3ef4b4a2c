using Microsoft.EntityFrameworkCore;

namespace BrightDb.Samples.AspNetCore;

/// <summary>The keys of the data source's views in the DI container.</summary>
public static class Views
{
    /// <summary>Reads: read replicas first (<c>LoadBalanceMode.PreferReadReplica</c>).</summary>
    public const string Reads = "reads";

    /// <summary>Writes: primaries first (<c>LoadBalanceMode.PreferPrimary</c>).</summary>
    public const string Writes = "writes";
}

/// <summary>The sample's EF Core context, on the balanced data source; it queries without entities of its own.</summary>
public sealed class SampleContext(DbContextOptions<SampleContext> options) : DbContext(options);

/// <summary>A server of the topology.</summary>
public sealed record ServerView(string Host, int Port, string NodeType, string Placement, string ConnectHost);

/// <summary>The server's time and the server that told it.</summary>
public sealed record ServerTime(DateTime Now, string Server);

/// <summary>The server a request ran on.</summary>
public sealed record ServerName(string Server);

/// <summary>The server a request ran on, and whether it is a read replica (in recovery).</summary>
public sealed record ServerRole(string Server, bool InRecovery);
