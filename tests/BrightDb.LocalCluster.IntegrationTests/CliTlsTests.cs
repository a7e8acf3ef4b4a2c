using Npgsql;

namespace BrightDb.LocalCluster.IntegrationTests;

/// <summary>bm-dev-ctl create --tls on a cluster of its own: status says where the CA certificate is, every node (an added
/// one too) is verified against it, and user bigmath is refused in plain text.</summary>
public sealed class CliTlsTests() : CliClusterTestBase("cli-tls")
{
    [Fact]
    public async Task Create_with_tls_shows_the_authority_and_every_node_verifies()
    {
        var created = await RunAsync("create", "--rf", "2", "--tls");
        Assert.True(created.Code == 0, created.Error);
        var cluster = LocalCluster.TryAttach(BaseDir)!;
        var authority = cluster.TlsRootCertificateFile;
        Assert.NotNull(authority);
        Assert.Contains($"sslmode=verify-full sslrootcert={authority}", created.Output, StringComparison.Ordinal);
        Assert.Contains($"CA certificate (sslrootcert, Root Certificate) is {authority}", (await RunAsync("status")).Output, StringComparison.Ordinal);

        var added = await RunAsync("add_node");
        Assert.True(added.Code == 0, added.Error);
        cluster = LocalCluster.TryAttach(BaseDir)!;
        foreach (var node in cluster.Nodes)
        {
            Assert.True(await Db.ScalarAsync<bool>(cluster.ConnectionString(node.Index), "select ssl from pg_stat_ssl where pid = pg_backend_pid()"));
        }

        var plain = new NpgsqlConnectionStringBuilder(cluster.ConnectionString(1)) { SslMode = SslMode.Disable, RootCertificate = null }.ConnectionString;
        await Assert.ThrowsAsync<PostgresException>(() => Db.ScalarAsync<int>(plain, "select 1"));
        Assert.Equal(0, (await RunAsync("destroy")).Code);
    }
}
