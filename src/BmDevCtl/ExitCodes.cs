namespace BmDevCtl;

/// <summary>Exit codes: 0 success, 1 failure, 2 usage error (common CLI practice).</summary>
static class ExitCodes
{
    public const int Success = 0;
    public const int Failure = 1;
    public const int Usage = 2;
}
