using System.Globalization;

namespace BrightDb.LocalCluster.Internal;

/// <summary>The unprivileged account the servers run as: PostgreSQL refuses to run as root.</summary>
sealed record ServerAccount(string UserName, int Uid, int Gid, bool RunAsRoot)
{
    public static ServerAccount Resolve()
    {
        if (!Native.IsRoot)
        {
            return new ServerAccount(Environment.UserName, -1, -1, RunAsRoot: false);
        }

        foreach (var line in File.ReadLines("/etc/passwd"))
        {
            var fields = line.Split(':');
            if (fields.Length >= 4 && fields[0] == "postgres")
            {
                return new ServerAccount(
                    "postgres",
                    int.Parse(fields[2], CultureInfo.InvariantCulture),
                    int.Parse(fields[3], CultureInfo.InvariantCulture),
                    RunAsRoot: true);
            }
        }

        throw new LocalClusterException(
            "PostgreSQL refuses to run as root and there is no 'postgres' account to run it as. " + PostgresNotFoundException.InstallHint);
    }

    /// <summary>Gives a file or directory we created to the server account (no-op when not root).</summary>
    public void Own(string path)
    {
        if (RunAsRoot)
        {
            Native.Chown(path, Uid, Gid);
        }
    }
}
