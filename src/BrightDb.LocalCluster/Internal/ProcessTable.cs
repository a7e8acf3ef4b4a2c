using System.Globalization;

namespace BrightDb.LocalCluster.Internal;

/// <summary>Reads /proc: whether a process really lives (a zombie does not) and which processes are its children.</summary>
static class ProcessTable
{
    /// <summary>The process state letter (R, S, T, Z, …) or null when the process does not exist.</summary>
    public static char? State(int pid)
    {
        var stat = ReadStat(pid);
        return stat?.State;
    }

    /// <summary>Alive means present and not a zombie: exited postmasters may never be reaped here.</summary>
    public static bool IsAlive(int pid) => State(pid) is { } s && s != 'Z' && s != 'X';

    /// <summary>Stopped by SIGSTOP.</summary>
    public static bool IsStopped(int pid) => State(pid) is 'T';

    /// <summary>The live direct children of a process.</summary>
    public static IReadOnlyList<int> Children(int parentPid)
    {
        var children = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            if (ReadStat(pid) is { } stat && stat.ParentPid == parentPid && stat.State is not ('Z' or 'X'))
            {
                children.Add(pid);
            }
        }

        return children;
    }

    static (char State, int ParentPid)? ReadStat(int pid)
    {
        string text;
        try
        {
            text = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }

        // "pid (comm) S ppid ...": comm may hold spaces and parentheses, so parse after the last ')'.
        var close = text.LastIndexOf(')');
        if (close < 0 || close + 2 >= text.Length)
        {
            return null;
        }

        var fields = text[(close + 2)..].Split(' ');
        if (fields.Length < 2 || fields[0].Length != 1 || !int.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out var ppid))
        {
            return null;
        }

        return (fields[0][0], ppid);
    }
}
