using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace BrightDb.LocalCluster.Internal;

/// <summary>
/// The TLS certificates of a cluster created with <see cref="LocalClusterOptions.Tls"/>: a certificate authority of the
/// cluster's own (<c>ca.crt</c> in its base directory); per node, a server certificate it signed whose subject
/// alternative names are the node's addresses; and a client certificate of user bigmath (<c>bigmath.crt</c>,
/// <c>bigmath.key</c>), which the servers verify when a client presents it. Made with .NET's
/// <see cref="CertificateRequest"/>; keys are ECDSA P-256.
/// </summary>
static class ClusterCertificates
{
    public const string AuthorityFileName = "ca.crt";
    const string AuthorityKeyFileName = "ca.key";
    public const string ServerCertificateFileName = "server.crt";
    public const string ServerKeyFileName = "server.key";

    /// <summary>An address no node ever has: what a node's certificate names when it is made wrong on purpose.</summary>
    public const string WrongAddress = "127.255.255.254";

    /// <summary>The client certificate of user bigmath (PEM), signed by the cluster's authority.</summary>
    public static string ClientCertificateFile(string baseDirectory) => Path.Combine(baseDirectory, ServerSetup.User + ".crt");

    /// <summary>The key of <see cref="ClientCertificateFile"/> (PEM, unencrypted, readable by its owner only).</summary>
    public static string ClientKeyFile(string baseDirectory) => Path.Combine(baseDirectory, ServerSetup.User + ".key");

    /// <summary>The authority's certificate (PEM), which clients give as their root certificate.</summary>
    public static string AuthorityFile(string baseDirectory) => Path.Combine(baseDirectory, AuthorityFileName);

    /// <summary>Makes the cluster's certificate authority unless it exists.</summary>
    public static void EnsureAuthority(string baseDirectory)
    {
        var certificateFile = AuthorityFile(baseDirectory);
        var keyFile = Path.Combine(baseDirectory, AuthorityKeyFileName);
        if (File.Exists(certificateFile) && File.Exists(keyFile))
        {
            return;
        }

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=BrightDB local cluster CA, O=BrightDB", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: true, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        var now = DateTimeOffset.UtcNow;
        using var authority = request.CreateSelfSigned(now.AddDays(-1), now.AddYears(10));
        WritePrivate(keyFile, key.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(certificateFile, authority.ExportCertificatePem());
    }

    /// <summary>Makes the client certificate of user bigmath (subject <c>CN=bigmath</c>) unless it exists.</summary>
    public static void EnsureClient(string baseDirectory)
    {
        var certificateFile = ClientCertificateFile(baseDirectory);
        var keyFile = ClientKeyFile(baseDirectory);
        if (File.Exists(certificateFile) && File.Exists(keyFile))
        {
            return;
        }

        Issue(baseDirectory, ServerSetup.User, alternativeNames: null, ClientAuthentication, certificateFile, keyFile);
    }

    /// <summary>TLS Web Client Authentication, the extended key usage of a client certificate.</summary>
    const string ClientAuthentication = "1.3.6.1.5.5.7.3.2";

    /// <summary>TLS Web Server Authentication, the extended key usage of a server certificate.</summary>
    const string ServerAuthentication = "1.3.6.1.5.5.7.3.1";

    /// <summary>
    /// Writes a certificate for <paramref name="commonName"/> (and <paramref name="alternativeNames"/>, when given) signed
    /// by the cluster's authority, for <paramref name="usage"/>, and its key (readable by its owner only).
    /// </summary>
    static void Issue(string baseDirectory, string commonName, X509Extension? alternativeNames, string usage, string certificateFile, string keyFile)
    {
        using var authority = X509Certificate2.CreateFromPemFile(AuthorityFile(baseDirectory), Path.Combine(baseDirectory, AuthorityKeyFileName));
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={commonName}, O=BrightDB local cluster", key, HashAlgorithmName.SHA256);
        if (alternativeNames is not null)
        {
            request.CertificateExtensions.Add(alternativeNames);
        }

        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: false, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyAgreement, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(usage)], critical: false));
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        var now = DateTimeOffset.UtcNow;
        using var certificate = request.Create(authority, now.AddDays(-1), now.AddYears(5), serial);
        File.WriteAllText(certificateFile, certificate.ExportCertificatePem());
        WritePrivate(keyFile, key.ExportPkcs8PrivateKeyPem());
    }

    /// <summary>
    /// Writes a server certificate signed by the cluster's authority, and its key, into <paramref name="directory"/>: its
    /// names are <paramref name="names"/> (addresses or host names), or <see cref="WrongAddress"/> alone when
    /// <paramref name="wrong"/>. Returns the two files.
    /// </summary>
    public static (string Certificate, string Key) IssueServer(string baseDirectory, string directory, IReadOnlyList<string> names, bool wrong)
    {
        IReadOnlyList<string> listed = wrong ? [WrongAddress] : names;
        var alternativeNames = new SubjectAlternativeNameBuilder();
        foreach (var name in listed)
        {
            if (IPAddress.TryParse(name, out var address))
            {
                alternativeNames.AddIpAddress(address);
            }
            else
            {
                alternativeNames.AddDnsName(name);
            }
        }

        var certificateFile = Path.Combine(directory, ServerCertificateFileName);
        var keyFile = Path.Combine(directory, ServerKeyFileName);
        Issue(baseDirectory, listed[0], alternativeNames.Build(), ServerAuthentication, certificateFile, keyFile);
        return (certificateFile, keyFile);
    }

    /// <summary>PostgreSQL refuses a key file that others can read.</summary>
    static void WritePrivate(string path, string pem)
    {
        File.WriteAllText(path, "");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.WriteAllText(path, pem);
    }
}
