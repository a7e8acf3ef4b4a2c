using System.Text.Json;
using System.Text.Json.Serialization;
using BrightDb.Npgsql.Balancing;
using BrightDb.Npgsql.ConnectionStrings;
using BrightDb.Npgsql.Topology;
using Microsoft.Extensions.Time.Testing;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace BrightDb.Npgsql.Tests;

/// <summary>
/// Runs the server-selection vectors of <c>SelectionVectors/*.json</c>: each describes the settings (connection-string
/// keywords), the servers (placement, node type, load, down-marks) and the expected outcome of one choice of a server.
/// </summary>
public class SelectionVectorTests
{
    /// <summary>Choices made per vector, each on a fresh copy of its servers: enough for every member of a tie to be chosen.</summary>
    const int Trials = 300;

    static readonly TimeSpan ReconnectDelay = TimeSpan.FromSeconds(5);

    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
        ReadCommentHandling = JsonCommentHandling.Skip,
    };

    static readonly Lazy<IReadOnlyDictionary<(string File, string Vector), Vector>> All = new(Load);

    public static IEnumerable<object[]> Vectors() => All.Value.Keys.Select(k => new object[] { k.File, k.Vector });

    /// <summary>Why a vector's expected outcome is not what the driver does yet; <see langword="null"/> for the others.</summary>
    internal static string? KnownFailure(object[] row) =>
        row is [string file, string vector] && All.Value.TryGetValue((file, vector), out var v) ? v.KnownFailure : null;

    [VectorTheory]
    [MemberData(nameof(Vectors))]
    public void Vector(string file, string vector)
    {
        var v = All.Value[(file, vector)];
        var settings = TestSupport.Settings(
            string.Join(';', v.Settings.Select(s => $"{s.Key}={s.Value}").Prepend($"Host={v.Servers.FirstOrDefault()?.Host ?? "seed"}")));
        Assert.True(settings.LoadBalance != LoadBalanceMode.Disabled, "the vector's settings must turn balancing on");

        var chosen = new HashSet<string>(StringComparer.Ordinal);
        for (var trial = 0; trial < Trials; trial++)
        {
            var time = new FakeTimeProvider();
            var window = (long)(ReconnectDelay.TotalSeconds * time.TimestampFrequency);
            var servers = v.Servers.Select(s => s.Create(time, window)).ToArray();
            var before = servers.Select(s => s.InUse).ToArray();
            var plan = SelectionPlan.Build(servers, settings);
            var tried = v.Tried?.Select(h => servers.Single(s => s.Address.Host == h)).ToHashSet();

            var server = ServerSelector.SelectAndReserve(plan, time, window, tried, out var kind, allowProbe: !v.Hedge);

            if (v.Expect.NoServer)
            {
                Assert.Null(server);
                if (v.Expect.EmptyReason is { } reason)
                    Assert.Contains(reason, plan.EmptyReason, StringComparison.Ordinal);
                else
                    Assert.Null(plan.EmptyReason);
                Assert.Equal(before, servers.Select(s => s.InUse));
                continue;
            }

            Assert.NotNull(server);
            Assert.Contains(server.Address.Host, v.Expect.AnyOf!);
            Assert.Equal(v.Expect.Kind, Name(kind));
            // The choice is counted once, on the chosen server only.
            Assert.Equal(before.Select((n, i) => servers[i] == server ? n + 1 : n), servers.Select(s => s.InUse));
            chosen.Add(server.Address.Host);
        }

        if (!v.Expect.NoServer)
            Assert.Equal(v.Expect.AnyOf!.Order(StringComparer.Ordinal), chosen.Order(StringComparer.Ordinal));
    }

    static string Name(SelectionKind kind) => kind switch
    {
        SelectionKind.Normal => "normal",
        SelectionKind.Probe => "probe",
        SelectionKind.LastResort => "last-resort",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    static Dictionary<(string File, string Vector), Vector> Load()
    {
        var vectors = new Dictionary<(string, string), Vector>();
        var directory = Path.Combine(AppContext.BaseDirectory, "SelectionVectors");
        foreach (var path in Directory.GetFiles(directory, "*.json").Order(StringComparer.Ordinal))
        {
            var file = Path.GetFileNameWithoutExtension(path);
            var content = JsonSerializer.Deserialize<VectorFile>(File.ReadAllText(path), Json)
                ?? throw new InvalidDataException($"{path} is empty.");
            foreach (var vector in content.Vectors)
            {
                vector.Validate($"{file}/{vector.Name}");
                if (!vectors.TryAdd((file, vector.Name), vector))
                    throw new InvalidDataException($"{path} has two vectors named '{vector.Name}'.");
            }
        }

        if (vectors.Count == 0)
            throw new InvalidDataException($"No selection vector in {directory}.");
        return vectors;
    }
}

/// <summary>A file of vectors showing one rule of server selection.</summary>
sealed record VectorFile(string Rule, IReadOnlyList<Vector> Vectors);

/// <summary>One choice of a server: settings, servers and what may be chosen.</summary>
sealed record Vector(
    string Name,
    string Description,
    IReadOnlyDictionary<string, string> Settings,
    IReadOnlyList<VectorServer> Servers,
    Expectation Expect,
    IReadOnlyList<string>? Tried = null,
    bool Hedge = false,
    string? KnownFailure = null)
{
    internal void Validate(string where)
    {
        var hosts = Servers.Select(s => s.Host).ToList();
        if (hosts.Distinct(StringComparer.Ordinal).Count() != hosts.Count)
            throw new InvalidDataException($"{where}: two servers share a host.");
        if (Tried?.Except(hosts).FirstOrDefault() is { } unknownTried)
            throw new InvalidDataException($"{where}: tried server '{unknownTried}' is not among the servers.");
        if (Expect.NoServer == Expect.AnyOf is { Count: > 0 })
            throw new InvalidDataException($"{where}: expect either anyOf (one or more servers) or noServer.");
        if (Expect.NoServer ? Expect.Kind is not null : Expect.Kind is null || Expect.EmptyReason is not null)
            throw new InvalidDataException($"{where}: kind goes with anyOf, emptyReason with noServer.");
        if (Expect.AnyOf?.Except(hosts).FirstOrDefault() is { } unknown)
            throw new InvalidDataException($"{where}: expected server '{unknown}' is not among the servers.");
        foreach (var server in Servers)
            server.Validate(where);
    }
}

/// <summary>
/// A server: its placement and node type as <c>yb_servers()</c> reports them, the connections this data source has open
/// on it (<see cref="InUse"/>) and opens in progress that chose it (<see cref="Opening"/>), and how it is marked down.
/// </summary>
sealed record VectorServer(
    string Host,
    string? Cloud = null,
    string? Region = null,
    string? Zone = null,
    string? NodeType = null,
    int InUse = 0,
    int Opening = 0,
    string? Down = null,
    bool Removed = false,
    bool Listed = false,
    bool Reported = true)
{
    const int Port = 2521;

    internal void Validate(string where)
    {
        if (NodeType is not (null or "primary" or "read_replica"))
            throw new InvalidDataException($"{where}: server {Host} has node type '{NodeType}' (primary or read_replica).");
        if (Down is not (null or "error" or "suspected" or "delay-over"))
            throw new InvalidDataException($"{where}: server {Host} is down '{Down}' (error, suspected or delay-over).");
        if ((Listed || !Reported) && (Cloud ?? Region ?? Zone ?? NodeType) is not null)
            throw new InvalidDataException($"{where}: server {Host} is not described by the cluster, so it has no placement or node type.");
        if (Listed && !Reported)
            throw new InvalidDataException($"{where}: server {Host} is either listed or not reported.");
    }

    internal ServerEndpoint Create(TimeProvider time, long window)
    {
        var address = new HostAndPort(Host, Port);
        var endpoint = new ServerEndpoint(address, _ => throw new InvalidOperationException("no data source in unit tests"))
        {
            Info = Listed ? ClusterDiscovery.ListedHostInfo(address)
                : !Reported ? null
                : new ServerInfo(Host, Port, NodeType == "read_replica" ? ServerNodeType.ReadReplica : ServerNodeType.Primary,
                    Cloud, Region, Zone, null, null),
            InUse = InUse,
            Removed = Removed,
        };
        for (var i = 0; i < Opening; i++)
            endpoint.Reserve();

        var now = time.GetTimestamp();
        _ = Down switch
        {
            "error" => endpoint.MarkDown(now + window, "connection refused"),
            "suspected" => endpoint.MarkDown(now + window, "no answer within the hedged open delay", suspicion: true),
            // Marked down earlier, and its delay is over now: the next open may probe it.
            "delay-over" => endpoint.MarkDown(now, "connection refused"),
            _ => false,
        };
        return endpoint;
    }
}

/// <summary>
/// The outcome: a server of <see cref="AnyOf"/> chosen as <see cref="Kind"/> (every one of them, over many choices, when
/// several tie), or <see cref="NoServer"/>, with the plan's reason when it has no candidate at all.
/// </summary>
sealed record Expectation(IReadOnlyList<string>? AnyOf = null, string? Kind = null, bool NoServer = false, string? EmptyReason = null);

/// <summary>A theory whose data rows the data source may mark as known failures: those are reported as skipped, with the reason.</summary>
[XunitTestCaseDiscoverer("BrightDb.Npgsql.Tests.VectorTheoryDiscoverer", "BrightDb.Npgsql.Tests")]
[AttributeUsage(AttributeTargets.Method)]
public sealed class VectorTheoryAttribute : TheoryAttribute;

/// <summary>Discovers <see cref="VectorTheoryAttribute"/> theories, skipping the rows of known failures.</summary>
public sealed class VectorTheoryDiscoverer(IMessageSink diagnosticMessageSink) : TheoryDiscoverer(diagnosticMessageSink)
{
    protected override IEnumerable<IXunitTestCase> CreateTestCasesForDataRow(
        ITestFrameworkDiscoveryOptions discoveryOptions, ITestMethod testMethod, IAttributeInfo theoryAttribute, object[] dataRow) =>
        SelectionVectorTests.KnownFailure(dataRow) is { } reason
            ? CreateTestCasesForSkippedDataRow(discoveryOptions, testMethod, theoryAttribute, dataRow, reason)
            : base.CreateTestCasesForDataRow(discoveryOptions, testMethod, theoryAttribute, dataRow);
}
