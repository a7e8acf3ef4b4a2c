namespace BrightDb.LocalCluster;

/// <summary>A cluster operation failed: a server did not start, an address is taken, a directory is unusable, ….</summary>
public class LocalClusterException : Exception
{
    /// <summary>Creates the exception.</summary>
    public LocalClusterException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What went wrong and, where possible, what to do.</param>
    public LocalClusterException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    /// <param name="message">What went wrong and, where possible, what to do.</param>
    /// <param name="innerException">The cause.</param>
    public LocalClusterException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>The PostgreSQL server binaries (<c>initdb</c>, <c>pg_ctl</c>, <c>postgres</c>) were not found.</summary>
public sealed class PostgresNotFoundException : LocalClusterException
{
    /// <summary>The install hint included in every message of this type.</summary>
    public const string InstallHint =
        "Install them with: apt-get update && apt-get install -y postgresql (or run ./scripts/ensure-prereqs.sh).";

    /// <summary>Creates the exception.</summary>
    public PostgresNotFoundException()
        : base("PostgreSQL server binaries (version 12 or later) were not found. " + InstallHint)
    {
    }

    /// <summary>Creates the exception with a message; the install hint is appended.</summary>
    /// <param name="message">What was looked for and where.</param>
    public PostgresNotFoundException(string message)
        : base(message + " " + InstallHint)
    {
    }

    /// <summary>Creates the exception with a message and its cause; the install hint is appended.</summary>
    /// <param name="message">What was looked for and where.</param>
    /// <param name="innerException">The cause.</param>
    public PostgresNotFoundException(string message, Exception innerException)
        : base(message + " " + InstallHint, innerException)
    {
    }
}
