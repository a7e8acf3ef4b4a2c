using System.Security.Cryptography.X509Certificates;
using Npgsql;

namespace BrightDb.LocalCluster.IntegrationTests;

public sealed class TlsFixture : ClusterFixture
{
    protected override LocalClusterOptions Options => new()
    {
        Nodes = [new NodeSpec(Placement.Parse("aws.us-west.us-west-2a")), new NodeSpec(Placement.Parse("aws.us-west.us-west-2b")),
                 new NodeSpec(Placement.Parse("aws.us-west.us-west-2c"))],
        Tls = true,
        TlsWrongCertificateNodes = [3],
    };
}

/// <summary>A TLS cluster: its own certificate authority, a certificate per node naming its address, bigmath over TLS only.</summary>
public sealed class TlsTests(TlsFixture fixture) : IClassFixture<TlsFixture>
{
    LocalCluster Cluster => fixture.Cluster;

    static async Task<bool> SslInUseAsync(string connectionString)
    {
        await using var connection = Db.Connection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("select ssl from pg_stat_ssl where pid = pg_backend_pid()", connection);
        return (bool)(await command.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task Each_node_is_verified_against_its_address_with_the_clusters_authority()
    {
        var authority = Cluster.TlsRootCertificateFile;
        Assert.NotNull(authority);
        using var ca = X509Certificate2.CreateFromPem(await File.ReadAllTextAsync(authority));
        Assert.Contains("BrightDB local cluster CA", ca.Subject, StringComparison.Ordinal);
        foreach (var index in new[] { 1, 2 })
        {
            var connectionString = Cluster.ConnectionString(index);
            Assert.Contains("VerifyFull", connectionString, StringComparison.OrdinalIgnoreCase);
            Assert.True(await SslInUseAsync(connectionString));
        }
    }

    [Fact]
    public async Task User_bigmath_is_refused_in_plain_text()
    {
        var plain = new NpgsqlConnectionStringBuilder(Cluster.ConnectionString(1)) { SslMode = SslMode.Disable, RootCertificate = null }.ConnectionString;
        var error = await Assert.ThrowsAsync<PostgresException>(() => SslInUseAsync(plain));
        Assert.Equal(PostgresErrorCodes.InvalidAuthorizationSpecification, error.SqlState);
    }

    [Fact]
    public async Task A_node_made_with_a_wrong_certificate_fails_verification_and_serves_without_it()
    {
        var verified = Cluster.ConnectionString(3);
        var error = await Assert.ThrowsAnyAsync<Exception>(() => SslInUseAsync(verified));
        Assert.Contains("certificate", error.ToString(), StringComparison.OrdinalIgnoreCase);
        var encryptedOnly = new NpgsqlConnectionStringBuilder(verified) { SslMode = SslMode.Require, RootCertificate = null }.ConnectionString;
        Assert.True(await SslInUseAsync(encryptedOnly));
    }

    [Fact]
    public async Task An_added_node_gets_a_certificate_of_its_own()
    {
        var added = await Cluster.AddNodeAsync(new NodeSpec(Placement.Parse("aws.us-west.us-west-2a")));
        try
        {
            Assert.True(await SslInUseAsync(Cluster.ConnectionString(added.Index)));
        }
        finally
        {
            await Cluster.RemoveNodeAsync(added.Index);
        }
    }
}
