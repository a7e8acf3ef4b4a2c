using Npgsql;

namespace BrightDb.Npgsql;

/// <summary>
/// The password of a data source that has no password provider, as <see cref="BrightDbDataSource.Password"/> sets it: every
/// server's Npgsql data source (and the driver's own connections) asks it through a password provider when a new physical
/// connection logs in, so one assignment reaches them all. Npgsql's own <c>Password</c> setter would not: on a multi-host
/// data source it sets only the outer data source's password, not its hosts' pools'.
/// </summary>
/// <remarks>
/// Starts with the connection string's password, which is then not given to Npgsql in the connection string (Npgsql
/// refuses a password together with a provider). Without one, the provider answers <see langword="null"/> and Npgsql goes
/// on as ever: <c>PGPASSWORD</c>, then the password file.
/// </remarks>
sealed class SettablePassword(string? initial)
{
    string? _password = initial;

    /// <summary>The password for new physical connections from now on.</summary>
    internal string? Value { get => Volatile.Read(ref _password); set => Volatile.Write(ref _password, value); }

    /// <summary>Installs this password on one of the driver's Npgsql data sources.</summary>
    internal void ApplyTo(NpgsqlDataSourceBuilder builder)
    {
        builder.ConnectionStringBuilder.Password = null;
        // Npgsql's provider delegates say string; null lets Npgsql fall back to PGPASSWORD and the password file.
        builder.UsePasswordProvider(_ => Value!, (_, _) => new ValueTask<string>(Value!));
    }
}
