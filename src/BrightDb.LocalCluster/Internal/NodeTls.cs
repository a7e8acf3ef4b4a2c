using System.Globalization;

namespace BrightDb.LocalCluster.Internal;

/// <summary>
/// A node of a TLS cluster: its server certificate (<see cref="ClusterCertificates"/>) and the settings that make its server
/// serve TLS, accept user bigmath over TLS only (the tool's own superuser connects in plain text, on loopback), and verify
/// a client certificate against the cluster's authority when a client presents one (the password is still asked).
/// </summary>
static class NodeTls
{
    const string HbaFileName = "pg_hba_tls.conf";

    /// <summary>Writes the node's certificate, key and client rules into its directory; returns its postgresql.conf lines.</summary>
    public static string Configure(string baseDirectory, LocalNode node, ServerAccount account, bool wrongCertificate)
    {
        Directory.CreateDirectory(node.Directory);
        account.Own(node.Directory);
        List<string> names = [node.Host];
        if (node.ServerHost != node.Host)
        {
            names.Add(node.ServerHost);
        }

        if (node.PublicHost is not null)
        {
            names.Add(node.PublicHost);
        }

        if (node.HostName is not null)
        {
            names.Add(node.HostName);
        }

        var (certificate, key) = ClusterCertificates.IssueServer(baseDirectory, node.Directory, names, wrongCertificate);
        var hba = Path.Combine(node.Directory, HbaFileName);
        File.WriteAllText(hba, $"""
            # TYPE     DATABASE  USER     ADDRESS        METHOD
            local      all       all                     scram-sha-256
            hostnossl  all       {ServerSetup.User}  0.0.0.0/0      reject
            hostnossl  all       {ServerSetup.User}  ::/0           reject
            host       all       all      127.0.0.0/8    scram-sha-256

            """);
        foreach (var file in new[] { certificate, key, hba })
        {
            account.Own(file);
        }

        return string.Create(CultureInfo.InvariantCulture, $"""
            ssl = on
            ssl_cert_file = '{certificate}'
            ssl_key_file = '{key}'
            ssl_ca_file = '{ClusterCertificates.AuthorityFile(baseDirectory)}'
            hba_file = '{hba}'

            """);
    }
}
