using System.Buffers;
using System.Runtime.CompilerServices;

namespace BrightDb.Npgsql.Balancing;

/// <summary>
/// Chooses the server for a new connection and counts it, in one lock-free step: within the first group that has a
/// usable server, the one with the fewest connections from this data source; ties broken uniformly at random, so
/// that processes starting together do not all pick the same server.
/// Decision owned (docs/architecture.md): select (the order of the groups is <see cref="SelectionPlan"/>'s).
/// </summary>
static class ServerSelector
{
    /// <summary>Attempts to win a count race before counting anyway; a lost race only means another open just counted.</summary>
    const int MaxRaces = 8;

    /// <param name="plan">The snapshot's candidate groups.</param>
    /// <param name="time">The clock of the down-marks.</param>
    /// <param name="probeWindow">How long a claimed probe keeps other opens away, in timestamp units.</param>
    /// <param name="exclude">Servers already tried by this open, or <see langword="null"/>.</param>
    /// <param name="allowProbe">False to skip servers marked down even when their delay is over (a hedge wants a server that answers, not a probe).</param>
    /// <param name="kind">Whether the server was chosen normally, as the one probe of a server whose delay is over, or as a last resort.</param>
    /// <returns>The chosen server, already counted; <see langword="null"/> when no server is usable.</returns>
    internal static ServerEndpoint? SelectAndReserve(
        SelectionPlan plan, TimeProvider time, long probeWindow, HashSet<ServerEndpoint>? exclude, out SelectionKind kind, bool allowProbe = true)
    {
        kind = SelectionKind.Normal;
        long now = 0;
        for (var g = 0; g < plan.Groups.Length; g++)
        {
            var group = plan.Groups[g];
            for (var race = 0; ; race++)
            {
                var chosen = group.Length == 1
                    ? Only(group[0], time, ref now, exclude, Pass.Usable, allowProbe, plan.Capacity, plan.Weighed[g], out var observed, plan.Bands[g])
                    : PickLeastLoaded(group, time, ref now, exclude, Pass.Usable, allowProbe, plan.Capacity, plan.Weighed[g], out observed, plan.Bands[g]);
                if (chosen is null)
                    break;

                if (race < MaxRaces && !chosen.TryReserve(observed))
                    continue;
                if (race >= MaxRaces)
                    chosen.Reserve();

                var downUntil = chosen.DownUntil;
                if (downUntil == 0)
                    return chosen;

                // The server's delay is over: this open may probe it, if no other open claimed the probe first. A claim
                // pushes the delay into the future, so a delay read after another open's claim is not over, and is no claim.
                if (now == 0)
                    now = time.GetTimestamp();
                if (downUntil <= now && chosen.TryClaimProbe(downUntil, now + probeWindow))
                {
                    kind = SelectionKind.Probe;
                    return chosen;
                }

                chosen.Release();
            }
        }

        // Every server that is up has a full pool: the least loaded, where the open waits for a pool slot (up to Timeout). A
        // healthy server frees a slot as soon as the application returns a connection; a suspect may be hung.
        if (plan.Capacity != int.MaxValue)
        {
            for (var g = 0; g < plan.Groups.Length; g++)
            {
                if (PickLeastLoaded(plan.Groups[g], time, ref now, exclude, Pass.Full, allowProbe, plan.Capacity, plan.Weighed[g], out _) is { } full)
                {
                    full.Reserve();
                    return full;
                }
            }
        }

        // Every candidate is marked down (none is up, full or not). A server marked down by an error stays skipped for its delay (a dead
        // server is not worth a burst of attempts); one only suspected of hanging because it answered slowly may just be
        // busy, and a burst of slow answers under load can suspect them all: rather than refuse service, try the
        // least-loaded of those.
        for (var g = 0; g < plan.Groups.Length; g++)
        {
            if (PickLeastLoaded(plan.Groups[g], time, ref now, exclude, Pass.Suspected, allowProbe, plan.Capacity, plan.Weighed[g], out _) is { } lastResort)
            {
                lastResort.Reserve();
                kind = SelectionKind.LastResort;
                return lastResort;
            }
        }

        return null;
    }

    enum Pass
    {
        /// <summary>Servers that are up (or due a probe) and have room.</summary>
        Usable,

        /// <summary>Servers marked down only on suspicion, with room.</summary>
        Suspected,

        /// <summary>Servers that are up, full or not.</summary>
        Full,
    }

    // The list of ties is written before it is read: no need to zero it (SkipLocalsInit).
    [SkipLocalsInit]
    static ServerEndpoint? PickLeastLoaded(
        ServerEndpoint[] group, TimeProvider time, ref long now, HashSet<ServerEndpoint>? exclude, Pass pass, bool allowProbe, int capacity,
        bool weighed, out long observed, int band = 0)
    {
        // Indices of the servers tied at the minimum: on the stack up to 1024 servers (4 KB), beyond that borrowed from the
        // shared pool rather than allocated on every choice. No try block: around the scan it would keep the loop's locals
        // out of registers (measured: 1000 servers 3.2 µs against 2.0 µs), and a list not returned after an exception is
        // only garbage.
        if (group.Length <= 1024)
            return Scan(group, time, ref now, exclude, pass, allowProbe, capacity, weighed, out observed, band, stackalloc int[group.Length]);
        var rented = ArrayPool<int>.Shared.Rent(group.Length);
        var chosen = Scan(group, time, ref now, exclude, pass, allowProbe, capacity, weighed, out observed, band, rented);
        ArrayPool<int>.Shared.Return(rented);
        return chosen;
    }

    /// <summary>
    /// <see cref="Scan"/> for a group of one server (a zone with one node, the common case of topology keys on a small
    /// cluster): no list of ties, no draw. The same reservation check as <see cref="Scan"/>'s end, written out in both: a
    /// helper shared by the two made the scan of a six-server group 26 -> 39 ns (two runs). Never inlined, so that
    /// <see cref="SelectAndReserve"/>'s loop compiles as it does without it (docs/benchmarks.md, "Selection, a group of one server").
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    static ServerEndpoint? Only(
        ServerEndpoint server, TimeProvider time, ref long now, HashSet<ServerEndpoint>? exclude, Pass pass, bool allowProbe, int capacity,
        bool weighed, out long observed, int band)
    {
        observed = 0;
        var min = LoadIfEligible(server, time, ref now, exclude, pass, allowProbe, capacity, weighed);
        if (min < 0)
            return null;
        observed = server.CountsSnapshot;
        var load = ServerEndpoint.Load(observed) + (weighed ? server.Others : 0);
        if (band == 0 ? load != min : load > min + band)
            observed = long.MinValue;
        return server;
    }

    /// <summary>The least-loaded candidate of <paramref name="group"/> (ties at random), with <paramref name="tied"/> as room for the ties.</summary>
    static ServerEndpoint? Scan(
        ServerEndpoint[] group, TimeProvider time, ref long now, HashSet<ServerEndpoint>? exclude, Pass pass, bool allowProbe, int capacity,
        bool weighed, out long observed, int band, Span<int> tied)
    {
        var min = int.MaxValue;
        observed = 0;
        var ties = 0;
        for (var i = 0; i < group.Length; i++)
        {
            var count = LoadIfEligible(group[i], time, ref now, exclude, pass, allowProbe, capacity, weighed);
            if (count < 0)
                continue;
            if (count < min)
            {
                min = count;
                ties = 0;
            }

            if (count == min)
                tied[ties++] = i;
        }

        if (ties == 0)
            return null;
        if (band == 0 && weighed)
        {
            // Small counts reported by the cluster: the lesser of two servers drawn at random from those within one
            // connection of the least (the herd rule of ClusterWideLoad). When they are all at the least, any of them.
            var near = 0;
            for (var i = 0; i < group.Length; i++)
            {
                var count = LoadIfEligible(group[i], time, ref now, exclude, pass, allowProbe, capacity, weighed);
                if (count >= 0 && count <= min + 1)
                    tied[near++] = i;
            }

            if (near > ties)
            {
                band = 1;
                var first = Random.Shared.Next(near);
                var second = Random.Shared.Next(near - 1);
                if (second >= first)
                    second++;
                var a = group[tied[first]];
                var b = group[tied[second]];
                var loadA = ServerEndpoint.Load(a.CountsSnapshot) + a.Others;
                var loadB = ServerEndpoint.Load(b.CountsSnapshot) + b.Others;
                tied[0] = loadA < loadB || (loadA == loadB && Random.Shared.Next(2) == 0) ? tied[first] : tied[second];
                ties = 1;
            }
            else
            {
                ties = near;
            }
        }
        else if (band > 0)
        {
            // Counts reported by the cluster: every server within the band above the least is as good (the herd rule of
            // ClusterWideLoad). The servers seen at the minimum are in the list already; add the rest of the band.
            var inBand = 0;
            for (var i = 0; i < group.Length; i++)
            {
                var count = LoadIfEligible(group[i], time, ref now, exclude, pass, allowProbe, capacity, weighed);
                if (count >= 0 && count <= min + band)
                    tied[inBand++] = i;
            }

            ties = Math.Max(inBand, 1);
        }

        var chosen = group[ties == 1 ? tied[0] : tied[Random.Shared.Next(ties)]];
        // The counts the choice was made on, for the compare-and-swap that reserves it: if they changed since the scan
        // (or the server left the band), a value they can never hold makes the reservation fail, and the choice is made again.
        observed = chosen.CountsSnapshot;
        var load = ServerEndpoint.Load(observed) + (weighed ? chosen.Others : 0);
        if (band == 0 ? load != min : load > min + band)
            observed = long.MinValue;
        return chosen;
    }

    /// <summary>
    /// The load the selector compares (this data source's connections and opens in progress, plus, when the group is
    /// <paramref name="weighed"/>, the others' reported by the cluster), or -1 when <paramref name="server"/> is not a
    /// candidate of <paramref name="pass"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static int LoadIfEligible(ServerEndpoint server, TimeProvider time, ref long now, HashSet<ServerEndpoint>? exclude, Pass pass, bool allowProbe, int capacity, bool weighed)
    {
        if (server.Removed || (exclude is not null && exclude.Contains(server)))
            return -1;
        var own = server.InUse;
        if (pass != Pass.Full && own >= capacity)
            return -1;
        if (pass == Pass.Suspected)
        {
            if (server.DownUntil == 0 || !server.OnlySuspected)
                return -1;
        }
        else if (server.DownUntil != 0)
        {
            if (!allowProbe || pass == Pass.Full)
                return -1;
            // Read the clock only when some server is down: the common path never pays for it.
            if (now == 0)
                now = time.GetTimestamp();
            if (!server.IsSelectable(now))
                return -1;
        }

        return weighed ? own + server.Others : own;
    }
}

/// <summary>How a server was chosen.</summary>
enum SelectionKind
{
    /// <summary>The least-loaded usable server.</summary>
    Normal,

    /// <summary>A server marked down whose delay is over: this open is its one probe.</summary>
    Probe,

    /// <summary>
    /// No candidate is up (each is marked down or already tried; a server that is up with a full pool is waited for
    /// instead): the least-loaded server marked down only on suspicion of hanging, with room and not yet tried, of the most
    /// preferred group that has one. A server marked down by an error is never a last resort.
    /// </summary>
    LastResort,
}
