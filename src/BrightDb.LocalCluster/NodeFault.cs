using System.Globalization;

namespace BrightDb.LocalCluster;

/// <summary>
/// A network fault a node's fault proxy injects between clients and the node's server (see
/// <see cref="LocalClusterOptions.FaultProxy"/> and <see cref="LocalCluster.SetFaultAsync"/>). A node has one fault at a time;
/// setting another replaces it and <see cref="None"/> clears it. Faults act at once, on existing and new connections alike
/// unless the kind says otherwise.
/// </summary>
public abstract record NodeFault
{
    private protected NodeFault()
    {
    }

    /// <summary>No fault: the proxy forwards everything as it comes.</summary>
    public static NodeFault None { get; } = new NoFault();

    /// <summary>New connections are accepted and never answered (the proxy reads and drops what they send, and never reaches the
    /// server); existing connections keep working. Connections accepted meanwhile stay silent after the fault is cleared.</summary>
    public static NodeFault Hang { get; } = new HangFault();

    /// <summary>Nothing more is forwarded from the server to any client, existing connections included (a result stops in the
    /// middle); what the server sends is held and delivered when the fault is cleared.</summary>
    public static NodeFault Stall { get; } = new StallFault();

    /// <summary>New connections are refused (the proxy stops listening, so a connect fails at once); existing connections keep
    /// working.</summary>
    public static NodeFault Refuse { get; } = new RefuseFault();

    /// <summary>Delays every chunk of data by <paramref name="delay"/> in the given direction, without limiting throughput.</summary>
    /// <param name="delay">The added one-way delay; zero or more.</param>
    /// <param name="direction">Which way the delay applies.</param>
    /// <returns>The fault.</returns>
    public static NodeFault Latency(TimeSpan delay, FaultDirection direction = FaultDirection.Both)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(delay, TimeSpan.Zero);
        return Enum.IsDefined(direction) ? new LatencyFault(delay, direction) : throw new ArgumentOutOfRangeException(nameof(direction));
    }

    /// <summary>Limits each direction of each connection to <paramref name="bytesPerSecond"/>.</summary>
    /// <param name="bytesPerSecond">The limit, at least 1.</param>
    /// <returns>The fault.</returns>
    public static NodeFault Bandwidth(long bytesPerSecond)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bytesPerSecond, 1);
        return new BandwidthFault(bytesPerSecond);
    }

    /// <summary>Resets (TCP RST to the client) every connection once it has forwarded <paramref name="bytes"/> bytes, both
    /// directions counted, from the moment the fault is set; connections that stay below keep working.</summary>
    /// <param name="bytes">The bytes a connection may still forward; zero or more.</param>
    /// <returns>The fault.</returns>
    public static NodeFault ResetAfter(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        return new ResetFault(bytes);
    }

    /// <summary>The fault's text as the state file and <c>bm-dev-ctl fault</c> write it, e.g. <c>latency 200 both</c>.</summary>
    internal abstract string WireText { get; }

    /// <summary>The delay added to data going down (server to client) or up.</summary>
    internal virtual TimeSpan DelayFor(bool down) => TimeSpan.Zero;

    /// <summary>The per-direction limit in bytes per second; 0 for none.</summary>
    internal virtual long BytesPerSecond => 0;

    /// <summary>The bytes a connection may forward before it is reset; null for no limit.</summary>
    internal virtual long? ResetAfterBytes => null;

    internal virtual bool HangsNewConnections => false;

    internal virtual bool StallsServerToClient => false;

    internal virtual bool RefusesNewConnections => false;

    /// <summary>The fault <see cref="WireText"/> names; null, empty or unknown text is <see cref="None"/>.</summary>
    internal static NodeFault FromWire(string? text)
    {
        var parts = (text ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries);
        long Number(int i) => parts.Length > i && long.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : 0;
        return parts.FirstOrDefault() switch
        {
            "latency" => Latency(TimeSpan.FromMilliseconds(Number(1)),
                parts.Length > 2 && Enum.TryParse<FaultDirection>(parts[2], ignoreCase: true, out var d) ? d : FaultDirection.Both),
            "bandwidth" => Bandwidth(Math.Max(1, Number(1))),
            "reset" => ResetAfter(Number(1)),
            "hang" => Hang,
            "stall" => Stall,
            "refuse" => Refuse,
            _ => None,
        };
    }

    /// <summary>A description for people, e.g. <c>latency 200 ms (both ways)</c>.</summary>
    /// <returns>The description.</returns>
    public abstract override string ToString();

    sealed record NoFault : NodeFault
    {
        internal override string WireText => "none";

        public override string ToString() => "none";
    }

    sealed record HangFault : NodeFault
    {
        internal override string WireText => "hang";

        internal override bool HangsNewConnections => true;

        public override string ToString() => "hang (new connections accepted, never answered)";
    }

    sealed record StallFault : NodeFault
    {
        internal override string WireText => "stall";

        internal override bool StallsServerToClient => true;

        public override string ToString() => "stall (nothing forwarded from the server)";
    }

    sealed record RefuseFault : NodeFault
    {
        internal override string WireText => "refuse";

        internal override bool RefusesNewConnections => true;

        public override string ToString() => "refuse (new connections refused)";
    }

    sealed record LatencyFault(TimeSpan Delay, FaultDirection Direction) : NodeFault
    {
        internal override string WireText =>
            $"latency {((long)Delay.TotalMilliseconds).ToString(CultureInfo.InvariantCulture)} {Direction.ToString().ToLowerInvariant()}";

        internal override TimeSpan DelayFor(bool down) =>
            Direction == FaultDirection.Both || (Direction == FaultDirection.Down) == down ? Delay : TimeSpan.Zero;

        public override string ToString() => $"latency {((long)Delay.TotalMilliseconds).ToString(CultureInfo.InvariantCulture)} ms (" + Direction switch
        {
            FaultDirection.Up => "client to server",
            FaultDirection.Down => "server to client",
            _ => "both ways",
        } + ")";
    }

    sealed record BandwidthFault(long Limit) : NodeFault
    {
        internal override string WireText => $"bandwidth {Limit.ToString(CultureInfo.InvariantCulture)}";

        internal override long BytesPerSecond => Limit;

        public override string ToString() => $"bandwidth {Limit.ToString(CultureInfo.InvariantCulture)} bytes/s per direction";
    }

    sealed record ResetFault(long Bytes) : NodeFault
    {
        internal override string WireText => $"reset {Bytes.ToString(CultureInfo.InvariantCulture)}";

        internal override long? ResetAfterBytes => Bytes;

        public override string ToString() => $"reset after {Bytes.ToString(CultureInfo.InvariantCulture)} bytes";
    }
}
