using System.Net.Sockets;
using BrightDb.Npgsql.Balancing;
using Npgsql;

namespace BrightDb.Npgsql.Tests;

public sealed class FailureClassifierTests
{
    static NpgsqlException Refused(string host) =>
        new($"Failed to connect to {host}:2521", new SocketException((int)SocketError.ConnectionRefused));

    [Fact]
    public void A_failover_whose_every_host_was_unreachable_is_unreachable()
    {
        var all = new NpgsqlException("Unable to connect to a suitable host.", new AggregateException(Refused("a"), Refused("b")));
        Assert.True(FailureClassifier.IsServerUnavailable(all, CancellationToken.None));
        Assert.Equal(2, FailureClassifier.Describe(all).Split(", then ").Length);
    }

    [Fact]
    public void A_failover_where_one_host_answered_with_an_application_error_is_the_application_s_error()
    {
        var mixed = new NpgsqlException(
            "Unable to connect to a suitable host.",
            new AggregateException(Refused("a"), new PostgresException("password authentication failed", "FATAL", "FATAL", PostgresErrorCodes.InvalidPassword)));
        Assert.False(FailureClassifier.IsServerUnavailable(mixed, CancellationToken.None));
        Assert.Contains("28P01", FailureClassifier.Describe(mixed), StringComparison.Ordinal);
    }

    [Fact]
    public void A_TLS_error_that_says_see_inner_exception_is_described_with_its_cause()
    {
        var tls = new NpgsqlException("Exception while reading from stream",
            new IOException("The decryption operation failed, see inner exception.",
                new InvalidOperationException("Decrypt failed", new InvalidOperationException("error:0A000418:SSL routines::tlsv1 alert unknown ca"))));
        Assert.Equal("IOException: The decryption operation failed (error:0A000418:SSL routines::tlsv1 alert unknown ca)", FailureClassifier.Describe(tls));
    }

    [Fact]
    public void An_error_that_names_its_cause_itself_is_described_as_it_is()
    {
        var refused = Refused("a");
        Assert.Equal("SocketException: " + refused.InnerException!.Message, FailureClassifier.Describe(refused));
    }
}
