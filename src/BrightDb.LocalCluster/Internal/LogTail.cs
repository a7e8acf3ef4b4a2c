namespace BrightDb.LocalCluster.Internal;

/// <summary>The end of a server log, to put in an exception message.</summary>
static class LogTail
{
    public static string Read(string path, int lines = 30)
    {
        try
        {
            if (!File.Exists(path))
            {
                return $"(no log at {path})";
            }

            var tail = File.ReadLines(path).TakeLast(lines).ToArray();
            return $"Last lines of {path}:\n" + string.Join('\n', tail);
        }
        catch (IOException ex)
        {
            return $"(could not read {path}: {ex.Message})";
        }
    }
}
