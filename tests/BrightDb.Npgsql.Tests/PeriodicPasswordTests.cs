using Microsoft.Extensions.Time.Testing;
using Npgsql;

namespace BrightDb.Npgsql.Tests;

/// <summary>The one periodic password provider of a data source: when it is called, what an open gets meanwhile.</summary>
public class PeriodicPasswordTests
{
    readonly FakeTimeProvider _time = new();

    PeriodicPassword Create(Func<int, string> answer, List<CancellationToken>? tokens = null)
    {
        var call = 0;
        return new PeriodicPassword(
            (_, token) =>
            {
                tokens?.Add(token);
                return ValueTask.FromResult(answer(++call));
            },
            new NpgsqlConnectionStringBuilder("Host=a,b,c"), TimeSpan.FromMinutes(10), TimeSpan.FromSeconds(5), _time);
    }

    [Fact]
    public async Task Called_once_at_the_start_then_once_per_success_interval()
    {
        await using var password = Create(call => $"token-{call}");
        Assert.Equal(0, password.Calls);
        password.Start();
        Assert.Equal("token-1", await password.GetAsync(CancellationToken.None));
        Assert.Equal("token-1", password.Get());
        Assert.Equal(1, password.Calls);

        _time.Advance(TimeSpan.FromMinutes(9));
        Assert.Equal(1, password.Calls);
        Assert.Equal("token-1", password.Get());

        _time.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(2, password.Calls);
        Assert.Equal("token-2", password.Get());
    }

    [Fact]
    public async Task A_failed_first_call_fails_the_opens_until_a_retry_after_the_failure_interval_succeeds()
    {
        await using var password = Create(call => call == 1 ? throw new TimeoutException("token service down") : $"token-{call}");
        password.Start();
        var error = await Assert.ThrowsAsync<NpgsqlException>(async () => await password.GetAsync(CancellationToken.None));
        Assert.IsType<TimeoutException>(error.InnerException);
        Assert.Throws<NpgsqlException>(() => password.Get());

        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(2, password.Calls);
        Assert.Equal("token-2", await password.GetAsync(CancellationToken.None));
    }

    [Fact]
    public async Task A_failed_refresh_keeps_the_last_password_and_retries_after_the_failure_interval()
    {
        await using var password = Create(call => call == 2 ? throw new TimeoutException("token service down") : $"token-{call}");
        password.Start();
        Assert.Equal("token-1", password.Get());

        _time.Advance(TimeSpan.FromMinutes(10));
        Assert.Equal(2, password.Calls);
        Assert.Equal("token-1", password.Get());

        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(3, password.Calls);
        Assert.Equal("token-3", password.Get());
    }

    [Fact]
    public async Task Disposing_cancels_the_providers_token_and_stops_the_calls()
    {
        var tokens = new List<CancellationToken>();
        var password = Create(call => $"token-{call}", tokens);
        password.Start();
        Assert.Equal("token-1", password.Get());
        await password.DisposeAsync();
        Assert.True(tokens.Single().IsCancellationRequested);

        _time.Advance(TimeSpan.FromHours(1));
        Assert.Equal(1, password.Calls);
    }

    [Fact]
    public void A_password_and_a_periodic_provider_together_are_refused_at_build()
    {
        var builder = new BrightDbDataSourceBuilder("Host=127.0.0.1;Password=secret;Load Balance Hosts=true");
        builder.UsePeriodicPasswordProvider((_, _) => ValueTask.FromResult("token"), TimeSpan.FromMinutes(1), TimeSpan.FromSeconds(1));
        var error = Assert.Throws<ArgumentException>(builder.Build);
        Assert.Contains("periodic password provider", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", error.Message, StringComparison.Ordinal);
    }
}
