using BrightDb.Npgsql.Balancing;
using BrightDb.Npgsql.ConnectionStrings;
using BrightDb.Npgsql.Pooling;
using Microsoft.Extensions.Time.Testing;
using Npgsql;

namespace BrightDb.Npgsql.Tests;

/// <summary>
/// A server's direct pool, the single-host Npgsql data source of the opens through the driver: made once on first use,
/// renewed with the server's pools, given up for good once connections are created for others to open; and when the
/// connection it hands out is checked first (<see cref="IdleConnectionCheck.IsDue"/>), on a <see cref="FakeTimeProvider"/>.
/// Nothing here connects: Npgsql data sources open nothing until asked.
/// </summary>
public sealed class DirectPoolTests : IAsyncDisposable
{
    static readonly TimeSpan Recheck = TimeSpan.FromSeconds(1);

    readonly FakeTimeProvider _time = new();
    readonly List<(string Name, NpgsqlDataSource DataSource)> _made = [];
    readonly ServerEndpoint _server;

    public DirectPoolTests()
    {
        _server = new ServerEndpoint(
            new HostAndPort("127.0.0.1", 1), _ => throw new InvalidOperationException("no multi-host pools in this test"), time: _time,
            directFactory: server =>
            {
                var name = $"direct#{server.PoolGeneration}";
                var made = new NpgsqlDataSourceBuilder("Host=127.0.0.1;Port=1") { Name = name }.Build();
                _made.Add((name, made));
                return made;
            },
            directCheckInterval: Recheck);
    }

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        Assert.All(_made, made => Assert.Throws<ObjectDisposedException>(() => made.DataSource.CreateConnection().Open()));
    }

    [Fact]
    public void The_direct_pool_is_made_once_on_first_use()
    {
        Assert.Null(_server.DirectIfCreated);
        Assert.False(_server.HasPools);
        var first = _server.DirectForOpen(out _);
        Assert.Same(first, _server.DirectForOpen(out _));
        Assert.Same(first, _server.DirectIfCreated);
        Assert.True(_server.HasPools);
        Assert.Single(_made);
    }

    [Fact]
    public void Renewing_the_pools_makes_a_new_direct_pool_of_the_next_generation()
    {
        var first = _server.DirectForOpen(out _)!;
        _server.RenewPools();
        Assert.Null(_server.DirectIfCreated);
        Assert.True(_server.HasPools);
        var second = _server.DirectForOpen(out _)!;
        Assert.NotSame(first, second);
        Assert.Equal(["direct#0", "direct#1"], _made.Select(m => m.Name));
        Assert.Same(second, _made[1].DataSource);
    }

    [Fact]
    public void A_direct_pool_given_up_is_never_made_again()
    {
        _server.DirectForOpen(out _);
        _server.RetireDirect();
        Assert.Null(_server.DirectIfCreated);
        Assert.Null(_server.DirectForOpen(out _));
        // Its connections still count for the server until they close.
        Assert.True(_server.HasPools);

        var unused = new ServerEndpoint(new HostAndPort("127.0.0.2", 1), _ => throw new InvalidOperationException(), directFactory: _ => throw new InvalidOperationException("made after it was given up"));
        unused.RetireDirect();
        Assert.Null(unused.DirectForOpen(out _));
        Assert.False(unused.HasPools);
    }

    [Fact]
    public void Without_a_connected_watch_every_connection_handed_out_is_checked()
    {
        _server.DirectForOpen(out var check);
        Assert.True(check);
        _server.NoteDirectChecked();
        _server.DirectForOpen(out check);
        Assert.True(check);
    }

    /// <summary>
    /// A connection handed out for a check is counted like any other, but its open is no sign of life until the check
    /// passed: a dead idle connection must not mark a server up.
    /// </summary>
    [Fact]
    public void A_connection_before_its_check_is_counted_but_is_no_sign_of_life()
    {
        _time.Advance(TimeSpan.FromSeconds(1));
        _server.OnStateChangeBeforeCheck(this, new System.Data.StateChangeEventArgs(System.Data.ConnectionState.Closed, System.Data.ConnectionState.Open));
        Assert.Equal(1, _server.OpenConnections);
        Assert.Equal(0, _server.LastAnswer);

        _server.NoteOpenedHere();
        Assert.NotEqual(0, _server.LastAnswer);
        _server.OnStateChangeBeforeCheck(this, new System.Data.StateChangeEventArgs(System.Data.ConnectionState.Open, System.Data.ConnectionState.Closed));
        Assert.Equal(0, _server.OpenConnections);

        _time.Advance(TimeSpan.FromSeconds(1));
        var before = _server.LastAnswer;
        _server.OnStateChange(this, new System.Data.StateChangeEventArgs(System.Data.ConnectionState.Closed, System.Data.ConnectionState.Open));
        Assert.True(_server.LastAnswer > before);
    }

    /// <summary>
    /// The rule, in the units of a <see cref="FakeTimeProvider"/>'s timestamps: a check that passed vouches for the others
    /// for <c>Host Recheck Seconds</c> (1 s here) while the watch is connected, except within <c>Host Recheck Seconds</c>
    /// after a failure, when every connection is checked. <paramref name="sinceCheckMs"/> -1: no check passed since the last
    /// failure (or ever); <paramref name="sinceFailureMs"/> -1: no failure.
    /// </summary>
    [Theory]
    [InlineData(true, 0, -1, false)]
    [InlineData(true, 500, -1, false)]
    [InlineData(true, 999, -1, false)]
    [InlineData(true, 1000, -1, true)]
    [InlineData(true, 60_000, -1, true)]
    [InlineData(true, -1, -1, true)]
    [InlineData(false, 0, -1, true)]
    [InlineData(false, 500, -1, true)]
    [InlineData(true, 0, 10, true)]
    [InlineData(true, 0, 999, true)]
    [InlineData(true, 0, 1000, false)]
    [InlineData(true, 0, 5000, false)]
    public void A_check_vouches_for_Host_Recheck_Seconds_while_the_watch_is_connected_and_nothing_failed(bool watching, int sinceCheckMs, int sinceFailureMs, bool due)
    {
        var time = new FakeTimeProvider();
        var perMs = time.TimestampFrequency / 1000;
        var interval = (long)(Recheck.TotalMilliseconds * perMs);
        time.Advance(TimeSpan.FromMinutes(1));
        var now = time.GetTimestamp();
        var checkedAt = sinceCheckMs < 0 ? 0 : now - sinceCheckMs * perMs;
        var checkEveryOpenUntil = sinceFailureMs < 0 ? 0 : now - sinceFailureMs * perMs + interval;
        Assert.Equal(due, IdleConnectionCheck.IsDue(watching, now, checkedAt, checkEveryOpenUntil, interval));
    }

    [Fact]
    public void After_a_failure_every_connection_is_checked_for_Host_Recheck_Seconds_even_once_a_check_passed()
    {
        _server.NoteNpgsqlFailure();
        _server.NoteDirectChecked();
        _time.Advance(TimeSpan.FromMilliseconds(999));
        Assert.True(IdleConnectionCheck.IsDue(true, _time.GetTimestamp(), 1, _server.CheckEveryOpenUntil, (long)(Recheck.TotalMilliseconds * (_time.TimestampFrequency / 1000))));
        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.False(IdleConnectionCheck.IsDue(true, _time.GetTimestamp(), _time.GetTimestamp(), _server.CheckEveryOpenUntil, (long)(Recheck.TotalMilliseconds * (_time.TimestampFrequency / 1000))));
    }
}
