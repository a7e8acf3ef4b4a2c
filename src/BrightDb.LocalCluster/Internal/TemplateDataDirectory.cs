using System.Security.Cryptography;
using System.Text;
using Npgsql;

namespace BrightDb.LocalCluster.Internal;

/// <summary>
/// One initialised and configured data directory per PostgreSQL build and setup, cached under the temp folder: copying it
/// is far faster than running initdb for every node.
/// </summary>
static class TemplateDataDirectory
{
    const string FormatVersion = "3";

    /// <summary>Returns the path of the template's data directory, building it once (under a machine-wide lock).</summary>
    public static async Task<string> EnsureAsync(PostgresInstallation pg, bool withYbServers, CancellationToken cancellationToken)
    {
        var root = ToolPaths.EnsureShared(ToolPaths.Root);
        var name = $"template-pg{pg.MajorVersion}-{Hash(pg, withYbServers)}";
        var finalDir = Path.Combine(root, name);
        var data = Path.Combine(finalDir, "data");
        if (Directory.Exists(data))
        {
            return data;
        }

        var gate = await ToolPaths.LockAsync(Path.Combine(root, name + ".lock"), TimeSpan.FromMinutes(3), cancellationToken).ConfigureAwait(false);

        await using var gateScope = gate.ConfigureAwait(false);
        if (Directory.Exists(data))
        {
            return data;
        }

        // Short: the Unix socket path used while building must stay under 107 bytes.
        var work = Path.Combine(root, $"build-{Guid.NewGuid().ToString("N")[..12]}");
        try
        {
            await BuildAsync(pg, withYbServers, work, cancellationToken).ConfigureAwait(false);
            Directory.Move(work, finalDir);
        }
        finally
        {
            if (Directory.Exists(work))
            {
                Directory.Delete(work, recursive: true);
            }
        }

        return data;
    }

    static string Hash(PostgresInstallation pg, bool withYbServers)
    {
        var postgres = new FileInfo(pg.Tool("postgres"));
        var key = string.Join('\n', FormatVersion, pg.BinDirectory, pg.VersionText, postgres.Length, postgres.LastWriteTimeUtc.Ticks,
            pg.Account.UserName, ServerSetup.BaseConfig, ServerSetup.HbaConfig, withYbServers ? ServerSetup.InternalExtensions + ServerSetup.YbServersFunction : "-",
            ServerSetup.AdminUser, ServerSetup.AdminPassword, ServerSetup.User, ServerSetup.DefaultPassword, ServerSetup.Database);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..16];
    }

    static async Task BuildAsync(PostgresInstallation pg, bool withYbServers, string work, CancellationToken cancellationToken)
    {
        ToolPaths.EnsureShared(work);
        pg.Account.Own(work);
        var data = Path.Combine(work, "data");
        var socketDir = Path.Combine(work, "sock");
        var passwordFile = Path.Combine(work, "pwfile");
        var log = Path.Combine(work, "setup.log");
        Directory.CreateDirectory(socketDir);
        pg.Account.Own(socketDir);
        await File.WriteAllTextAsync(passwordFile, ServerSetup.AdminPassword + "\n", cancellationToken).ConfigureAwait(false);
        pg.Account.Own(passwordFile);

        List<string> initdbArgs = ["-D", data, "-U", ServerSetup.AdminUser, "--pwfile", passwordFile, "--auth", "scram-sha-256",
            "-E", "UTF8", "--locale", "C", "--no-sync"];
        if (pg.MajorVersion >= 11)
        {
            // 1 MB WAL segments keep the template (and every copy of it) small.
            initdbArgs.AddRange(["--wal-segsize", "1"]);
        }

        var initdb = await pg.RunToolAsync("initdb", initdbArgs, cancellationToken).ConfigureAwait(false);
        if (!initdb.Succeeded)
        {
            throw new LocalClusterException($"initdb failed (exit {initdb.ExitCode}):\n{initdb.Output}");
        }

        File.Delete(passwordFile);
        await File.AppendAllTextAsync(Path.Combine(data, "postgresql.conf"), ServerSetup.BaseConfig + "\n", cancellationToken).ConfigureAwait(false);
        await File.WriteAllTextAsync(Path.Combine(data, "pg_hba.conf"), ServerSetup.HbaConfig + "\n", cancellationToken).ConfigureAwait(false);
        var nodeConfig = Path.Combine(data, ServerSetup.NodeConfigName);
        await File.WriteAllTextAsync(nodeConfig, $"port = 5432\nunix_socket_directories = '{socketDir}'\n", cancellationToken).ConfigureAwait(false);
        pg.Account.Own(nodeConfig);

        var start = await pg.RunToolAsync("pg_ctl", ["start", "-w", "-t", "60", "-D", data, "-l", log], cancellationToken).ConfigureAwait(false);
        if (!start.Succeeded)
        {
            throw new LocalClusterException($"The template server did not start:\n{start.Output}\n{LogTail.Read(log)}");
        }

        try
        {
            await RunSetupSqlAsync(socketDir, withYbServers, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            var stop = await pg.RunToolAsync("pg_ctl", ["stop", "-w", "-t", "60", "-m", "fast", "-D", data], CancellationToken.None).ConfigureAwait(false);
            if (!stop.Succeeded)
            {
                throw new LocalClusterException($"The template server did not stop:\n{stop.Output}");
            }
        }

        File.Delete(nodeConfig);
        File.Delete(log);
        Directory.Delete(socketDir, recursive: true);
    }

    static async Task RunSetupSqlAsync(string socketDir, bool withYbServers, CancellationToken cancellationToken)
    {
        string ConnectionString(string database)
        {
            var builder = AdminConnection.Builder(socketDir, 5432, database);
            builder.Pooling = false;
            builder.ApplicationName = ServerSetup.ToolApplicationName;
            return builder.ConnectionString;
        }

        async Task ExecuteAsync(string database, string sql)
        {
            var connection = new NpgsqlConnection(ConnectionString(database));
            await using var connectionScope = connection.ConfigureAwait(false);
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            var command = new NpgsqlCommand(sql, connection);
            await using var commandScope = command.ConfigureAwait(false);
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        if (withYbServers)
        {
            // template1 first: every database created afterwards (bigmath included) inherits the function.
            await ExecuteAsync("template1", ServerSetup.InternalExtensions).ConfigureAwait(false);
            await ExecuteAsync("postgres", ServerSetup.InternalExtensions).ConfigureAwait(false);
            await ExecuteAsync("template1", ServerSetup.YbServersFunction).ConfigureAwait(false);
            await ExecuteAsync("postgres", ServerSetup.YbServersFunction).ConfigureAwait(false);
        }

        await ExecuteAsync("postgres", $"CREATE ROLE {ServerSetup.User} LOGIN PASSWORD '{ServerSetup.DefaultPassword}'").ConfigureAwait(false);
        await ExecuteAsync("postgres", $"CREATE DATABASE {ServerSetup.Database} OWNER {ServerSetup.User}").ConfigureAwait(false);
    }
}
