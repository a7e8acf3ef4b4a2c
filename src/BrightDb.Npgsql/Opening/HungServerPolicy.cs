namespace BrightDb.Npgsql.Opening;

/// <summary>
/// Decides whether a server that has not answered an open within <c>Hedged Open Delay</c> looks hung, so that the open is
/// hedged on another server. A pure function of what was observed: no clock, no I/O.
/// </summary>
/// <remarks>
/// A paused or cut-off server accepts TCP connections and never answers, and Npgsql then waits a whole <c>Timeout</c>.
/// Slowness is not always the server's, though: a client starved of CPU sees every server slow, and a server busy with
/// this application's other opens is slow, not hung. Only a server that gave no sign of life while another server did is
/// worth a second attempt elsewhere, and only on a server that opens new connections well within the hedge delay: where
/// every server is that slow (an overloaded cluster or client), a second attempt saves no time and adds a connection to
/// the load, and attempts that time out waste the servers' work on them, until no open succeeds at all.
/// </remarks>
static class HungServerPolicy
{
    /// <summary>How late a hedge timer may fire before this process counts as starved rather than the server as slow.</summary>
    internal static readonly TimeSpan StarvationAllowance = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// A server whose new connections lately took this long or longer, on average, takes no hedge: half the hedge delay. An
    /// attempt there would answer little sooner than the one already waited for, and where servers are this slow the
    /// cluster or the client is overloaded, and every attempt adds to it.
    /// </summary>
    internal static TimeSpan SlowOpen(TimeSpan delay) => delay / 2;

    /// <summary>How long a server's measured open time stands for its speed: five hedge delays. Older, it says nothing of now.</summary>
    internal static TimeSpan OpenTimeMemory(TimeSpan delay) => delay * 5;

    /// <summary>What one round of waiting for an open observed.</summary>
    /// <param name="Delay">The hedge delay the round waited.</param>
    /// <param name="RoundTook">How long the round took by the clock (a timer that fired late took longer than <paramref name="Delay"/>).</param>
    /// <param name="ServerAnsweredWithinDelay">The server opened another connection of this data source within the delay.</param>
    /// <param name="ServerOverCapacity">The server holds more of this data source's connections than its pool allows (opens queue for a slot).</param>
    /// <param name="AnotherServerReady">Another usable server answered lately or has no open in progress (untested, not slow),
    /// and its new connections did not lately take <see cref="SlowOpen"/> or longer.</param>
    internal readonly record struct Round(
        TimeSpan Delay, TimeSpan RoundTook, bool ServerAnsweredWithinDelay, bool ServerOverCapacity, bool AnotherServerReady);

    /// <summary>The verdict on one round.</summary>
    internal enum Verdict
    {
        /// <summary>No sign of life from the server while another server is alive: hedge.</summary>
        Hung,

        /// <summary>The timer fired late: this process is starved, everything looks slow from here. Wait another round.</summary>
        ClientStarved,

        /// <summary>The server keeps answering other opens, or queues them for a pool slot: busy, not hung. Wait.</summary>
        ServerBusy,

        /// <summary>
        /// No other server shows life, or every one is as slow to open: the slowness is everywhere, and a second attempt only
        /// adds load. Wait.
        /// </summary>
        NoOtherServerReady,
    }

    internal static Verdict Judge(in Round round)
    {
        if (round.RoundTook > round.Delay * 1.5 + StarvationAllowance)
            return Verdict.ClientStarved;
        if (round.ServerAnsweredWithinDelay || round.ServerOverCapacity)
            return Verdict.ServerBusy;
        return round.AnotherServerReady ? Verdict.Hung : Verdict.NoOtherServerReady;
    }
}
