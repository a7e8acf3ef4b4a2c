using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Npgsql;

namespace BrightDb.Npgsql;

/// <summary>
/// Npgsql's builder options that make sense across servers: each applies to every server's data source (and to the
/// driver's own connections, which log in the same way). The password provider is one for the whole data source.
/// </summary>
public sealed partial class BrightDbDataSourceBuilder
{
    (Func<NpgsqlConnectionStringBuilder, CancellationToken, ValueTask<string>> Provider, TimeSpan Success, TimeSpan Failure)? _periodicPassword;
    /// <summary>Whether <see cref="UsePasswordProvider"/> gave a provider (then the data source's <c>Password</c> cannot be set).</summary>
    bool _passwordProviderSet;

    /// <summary>Includes parameter values in Npgsql's logs (sensitive data: for development only).</summary>
    public BrightDbDataSourceBuilder EnableParameterLogging(bool parameterLoggingEnabled = true) =>
        ConfigureNpgsql(b => b.EnableParameterLogging(parameterLoggingEnabled));

    /// <summary>Customises the TLS handshake of every connection (client certificates, certificate validation, …).</summary>
    public BrightDbDataSourceBuilder UseSslClientAuthenticationOptionsCallback(Action<SslClientAuthenticationOptions>? callback) =>
        ConfigureNpgsql(b => b.UseSslClientAuthenticationOptionsCallback(callback));

    /// <summary>The certificate authority that the servers' certificates are checked against.</summary>
    public BrightDbDataSourceBuilder UseRootCertificate(X509Certificate2? rootCertificate) =>
        ConfigureNpgsql(b => b.UseRootCertificate(rootCertificate));

    /// <summary>The certificate authorities that the servers' certificates are checked against.</summary>
    public BrightDbDataSourceBuilder UseRootCertificates(X509Certificate2Collection? rootCertificates) =>
        ConfigureNpgsql(b => b.UseRootCertificates(rootCertificates));

    /// <summary>Gives the certificate authority each time a connection checks a server's certificate (for rotating ones).</summary>
    public BrightDbDataSourceBuilder UseRootCertificateCallback(Func<X509Certificate2>? rootCertificateCallback) =>
        ConfigureNpgsql(b => b.UseRootCertificateCallback(rootCertificateCallback));

    /// <summary>
    /// A password provider called when a connection is opened (it should answer from a cache): one provider for every server.
    /// </summary>
    public BrightDbDataSourceBuilder UsePasswordProvider(
        Func<NpgsqlConnectionStringBuilder, string>? passwordProvider,
        Func<NpgsqlConnectionStringBuilder, CancellationToken, ValueTask<string>>? passwordProviderAsync)
    {
        _periodicPassword = null;
        _passwordProviderSet = passwordProvider is not null || passwordProviderAsync is not null;
        return ConfigureNpgsql(b => b.UsePasswordProvider(passwordProvider, passwordProviderAsync));
    }

    /// <summary>
    /// A password provider called in the background, at <paramref name="successRefreshInterval"/> after a success and
    /// <paramref name="failureRefreshInterval"/> after a failure (the recommended way to use rotating access tokens). Unlike
    /// the same option configured through <see cref="ConfigureNpgsql"/>, which would run one timer per server, the data
    /// source runs <b>one</b> timer and calls the provider once per refresh; every server's connections use its password.
    /// The provider is given the data source's settings (the listed hosts) and a token cancelled when the data source is
    /// disposed. An open made before the first call ended waits for it, and fails if it failed.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">An interval is not positive.</exception>
    public BrightDbDataSourceBuilder UsePeriodicPasswordProvider(
        Func<NpgsqlConnectionStringBuilder, CancellationToken, ValueTask<string>>? passwordProvider,
        TimeSpan successRefreshInterval,
        TimeSpan failureRefreshInterval)
    {
        if (passwordProvider is null)
        {
            _periodicPassword = null;
            return this;
        }

        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(successRefreshInterval, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(failureRefreshInterval, TimeSpan.Zero);
        _periodicPassword = (passwordProvider, successRefreshInterval, failureRefreshInterval);
        return this;
    }
}
