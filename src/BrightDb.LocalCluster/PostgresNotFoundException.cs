namespace BrightDb.LocalCluster;

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
