namespace BmDevCtl;

/// <summary>The command line is well-formed but its values are not (a placement that is not cloud.region.zone, …).</summary>
sealed class UsageException(string message) : Exception(message);
