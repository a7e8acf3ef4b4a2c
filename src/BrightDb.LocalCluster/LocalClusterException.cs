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
