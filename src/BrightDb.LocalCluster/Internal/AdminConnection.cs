using Npgsql;

namespace BrightDb.LocalCluster.Internal;

/// <summary>
/// How the tool connects to a server as its own superuser: the one place that sets the user, password, database and GSS
/// setting of a superuser connection. Callers add pooling, timeouts and the application name.
/// </summary>
static class AdminConnection
{
    /// <summary>A superuser connection to <paramref name="host"/> (an address, or a socket folder while the template is built).</summary>
    public static NpgsqlConnectionStringBuilder Builder(string host, int port, string database = ServerSetup.Database) => new()
    {
        Host = host,
        Port = port,
        Database = database,
        Username = ServerSetup.AdminUser,
        Password = ServerSetup.AdminPassword,
        // Npgsql's default attempt at GSS encryption can stall a connection for seconds where Kerberos is not set up.
        GssEncryptionMode = GssEncryptionMode.Disable,
    };
}
