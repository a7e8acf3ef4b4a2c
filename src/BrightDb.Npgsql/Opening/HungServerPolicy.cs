namespace BrightDb.Npgsql.Opening;

/// <summary>
/// Decides whether a server that has not answered an open within <c>Hedged Open Delay</c> looks hung, so that the open is
/// hedged on another server. A pure function of what was observed: no clock, no I/O.
/// </summary>
/// <remarks>
/// A paused or cut-off server accepts TCP connections and never answers, and Npgsql then waits a whole <c>Timeout</c>.
/// Slowness is not always the server's, though: a client starved of CPU sees every server slow, and a server busy with
/// this application's other opens is slow, not hung. Only a server that gave no sign of life while another server did is
/// worth a second attempt elsewhere.
/// </remarks>
static class HungServerPolicy
{
    /// <summary>How late a hedge timer may fire before this process counts as starved rather than the server as slow.</summary>
    internal static readonly TimeSpan StarvationAllowance = TimeSpan.FromMilliseconds(50);

    /// <summary>What one round of waiting for an open observed.</summary>
    /// <param name="Delay">The hedge delay the round waited.</param>
    /// <param name="RoundTook">How long the round took by the clock (a timer that fired late took longer than <paramref name="Delay"/>).</param>
    /// <param name="ServerAnsweredWithinDelay">The server opened another connection of this data source within the delay.</param>
    /// <param name="ServerOverCapacity">The server holds more of this data source's connections than its pool allows (opens queue for a slot).</param>
    /// <param name="AnotherServerAlive">Another usable server answered lately, or has no open in progress (untested, not slow).</param>
    internal readonly record struct Round(
        TimeSpan Delay, TimeSpan RoundTook, bool ServerAnsweredWithinDelay, bool ServerOverCapacity, bool AnotherServerAlive);

    /// <summary>The verdict on one round.</summary>
    internal enum Verdict
    {
        /// <summary>No sign of life from the server while another server is alive: hedge.</summary>
        Hung,

        /// <summary>The timer fired late: this process is starved, everything looks slow from here. Wait another round.</summary>
        ClientStarved,

        /// <summary>The server keeps answering other opens, or queues them for a pool slot: busy, not hung. Wait.</summary>
        ServerBusy,

        /// <summary>No other server shows life either: the slowness is everywhere, and a second attempt only adds load. Wait.</summary>
        NoOtherServerAlive,
    }

    internal static Verdict Judge(in Round round)
    {
        if (round.RoundTook > round.Delay * 1.5 + StarvationAllowance)
            return Verdict.ClientStarved;
        if (round.ServerAnsweredWithinDelay || round.ServerOverCapacity)
            return Verdict.ServerBusy;
        return round.AnotherServerAlive ? Verdict.Hung : Verdict.NoOtherServerAlive;
    }
}
