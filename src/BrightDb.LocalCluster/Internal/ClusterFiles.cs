using System.Text.Json;
using System.Text.Json.Serialization;

namespace BrightDb.LocalCluster.Internal;

/// <summary>Reads and atomically replaces the state file (cluster.json) and the membership file yb_servers() reads.</summary>
internal static class ClusterFiles
{
    public const string StateFileName = "cluster.json";

    public const string MembershipFileName = "yb_servers.json";

    /// <summary>Written by a detached rpcz server process; destroy terminates that process.</summary>
    public const string RpczPidFileName = "rpcz.pid";

    private static readonly JsonSerializerOptions StateJson = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter() },
    };

    private static readonly JsonSerializerOptions MembershipJson = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
    };

    public static ClusterStateRecord? TryReadState(string baseDirectory)
    {
        var path = Path.Combine(baseDirectory, StateFileName);
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize<ClusterStateRecord>(File.ReadAllText(path), StateJson)
                ?? throw new LocalClusterException($"The cluster state file '{path}' is empty.");
        }
        catch (JsonException ex)
        {
            throw new LocalClusterException($"The cluster state file '{path}' is unreadable: {ex.Message}", ex);
        }
    }

    public static void WriteState(string baseDirectory, ClusterStateRecord state) =>
        WriteAtomically(Path.Combine(baseDirectory, StateFileName), JsonSerializer.SerializeToUtf8Bytes(state, StateJson));

    /// <summary>
    /// Rewrites the one file every node's yb_servers() reads: write a temporary file, then rename over the old one, so a
    /// reader sees either the old or the new membership, never a mix.
    /// </summary>
    public static void WriteMembership(string baseDirectory, string behavior, long delayMs, IReadOnlyList<YbServersRow> rows)
    {
        var document = new MembershipDocument(behavior, delayMs, rows);
        WriteAtomically(Path.Combine(baseDirectory, MembershipFileName), JsonSerializer.SerializeToUtf8Bytes(document, MembershipJson));
    }

    private static void WriteAtomically(string path, byte[] content)
    {
        var temp = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        File.WriteAllBytes(temp, content);
        // Readable by the postgres account, which reads the membership file through pg_read_file.
        File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        File.Move(temp, path, overwrite: true);
    }
}
