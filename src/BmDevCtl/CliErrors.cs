namespace BmDevCtl;

/// <summary>Exit codes: 0 success, 1 failure, 2 usage error (common CLI practice).</summary>
internal static class ExitCodes
{
    public const int Success = 0;
    public const int Failure = 1;
    public const int Usage = 2;
}

/// <summary>The command line is well-formed but its values are not (a placement that is not cloud.region.zone, …).</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>The command cannot be carried out as asked (no cluster, no such node, a cluster already exists, …).</summary>
internal sealed class CommandFailedException(string message) : Exception(message);
