using BrightDb.Npgsql.Topology;
using CsCheck;

namespace BrightDb.Npgsql.Tests;

/// <summary>
/// Whatever rows <c>yb_servers()</c> returns, parsing never throws; every server it gives is usable (a host, a port from 1
/// to 65535, a known node type, an address of its own); and every row read is either a server or a reported problem.
/// </summary>
public class YbServersParserProperties
{
    const int Cases = 10_000;

    /// <summary>Characters of junk: control characters, whitespace of several kinds, quotes, letters whose case folds oddly.</summary>
    const string JunkChars = "abcXYZ019 .:-_,;'\"\\/\t\n\r\0\u00a0\u2028éß日本😀ıİKk\u212a";

    static readonly Gen<string> Junk = Gen.Char[JunkChars].Array[1, 16].Select(c => new string(c));

    static readonly Gen<string?> Blank = Gen.OneOfConst<string?>(null, "", " ", "\t", " \n ", "\u00a0", "\u2028");

    static readonly Gen<string?> Long = Gen.Frequency(
        (30, Gen.Int[250, 260].Select(n => (string?)new string('x', n))),
        (1, Gen.Int[1000, 20_000].Select(n => (string?)new string('y', n))));

    static Gen<string?> Field(params string[] likely) => Gen.Frequency(
        (3, Blank),
        (6, Gen.OneOfConst(likely).Select(s => (string?)s)),
        (3, Junk.Select(s => (string?)s)),
        (1, Long));

    /// <summary>Few distinct hosts, written in several ways, so that duplicates are frequent.</summary>
    static readonly Gen<string?> Host = Field(
        "10.0.0.1", "10.0.0.2", " 10.0.0.1 ", "node1", "NODE1", "Node1\t", "::1", "fe80::1", "i", "I", "ı", "İ", "k", "K", "\u212a", "日本", "a b");

    static readonly Gen<long?> Port = Gen.Frequency(
        (1, Gen.Const((long?)null)),
        (8, Gen.OneOfConst<long?>(2521, 2522, 5433, 1, 65535)),
        (2, Gen.Long[-100_000, 100_000].Select(p => (long?)p)),
        (1, Gen.OneOfConst<long?>(0, -1, 65536, long.MinValue, long.MaxValue, int.MaxValue + 1L, int.MinValue)));

    static readonly Gen<string?> NodeType = Field(
        "primary", "read_replica", "PRIMARY", " Read_Replica ", "read-replica", "readreplica", "witness", "master", "replica", "primary\0", "prımary");

    static readonly Gen<YbServersRow> Row = Gen.Select(
        Host, Port, NodeType, Field("aws", "gcp"), Field("us-west", "eu"), Field("us-west-2a", "*"),
        Gen.Frequency((6, Gen.Const((string?)null)), (2, Field("54.0.0.1", "54.0.0.2", " 54.0.0.1 ", "10.0.0.1"))), Field("u1", "u2"),
        (host, port, type, cloud, region, zone, publicIp, uuid) => new YbServersRow(host, port, type, cloud, region, zone, publicIp, uuid));

    /// <summary>Mostly small answers, some large, a few beyond <see cref="YbServersParser.MaxRows"/> (up to 10,000 rows).</summary>
    static readonly Gen<List<YbServersRow>> Rows = Gen.Frequency(
        (180, Row.List[0, 40]),
        (16, Row.List[41, 600]),
        (3, Row.List[3_000, YbServersParser.MaxRows + 10]),
        (1, Row.List[YbServersParser.MaxRows, 10_000]));

    static readonly Gen<HashSet<string>> Given =
        Gen.OneOfConst("54.0.0.1", "54.0.0.2", "10.0.0.1", "node1", "").Array[0, 3].Select(a => a.ToHashSet(StringComparer.OrdinalIgnoreCase));

    static readonly string[] KnownTypes = ["primary", "read_replica", "read-replica", "readreplica"];

    [Fact]
    public void Any_rows_give_usable_distinct_servers_and_every_row_is_accounted_for()
    {
        Gen.Select(Rows, Given).Sample((rows, given) =>
        {
            var result = YbServersParser.Parse(rows, given);
            var read = Math.Min(rows.Count, YbServersParser.MaxRows);

            // Every server is usable.
            foreach (var s in result.Servers)
            {
                Assert.False(string.IsNullOrWhiteSpace(s.Host));
                Assert.Equal(s.Host.Trim(), s.Host);
                Assert.InRange(s.Host.Length, 1, YbServersParser.MaxFieldLength);
                Assert.False(string.IsNullOrWhiteSpace(s.ConnectHost));
                Assert.InRange(s.Port, 1, 65535);
                Assert.True(Enum.IsDefined(s.NodeType), $"node type {s.NodeType}");
                Assert.Equal(result.UsesPublicIp && s.PublicIp is not null ? s.PublicIp : s.Host, s.ConnectHost);
            }

            // No address twice, in any case: not in the parser's sense (lower case), nor as names compared ignoring case.
            Assert.Equal(result.Servers.Count, result.Servers.Select(s => (s.ConnectHost.ToLowerInvariant(), s.Port)).Distinct().Count());
            Assert.Equal(result.Servers.Count, result.Servers.Select(s => $"{s.ConnectHost}:{s.Port}").Distinct(StringComparer.OrdinalIgnoreCase).Count());

            // Every row read is a server or a problem, in order; the rows beyond the limit are one problem.
            var problemRows = result.Problems.Where(p => p.StartsWith("row ", StringComparison.Ordinal))
                .Select(p => int.Parse(p[4..p.IndexOf(':', StringComparison.Ordinal)], System.Globalization.CultureInfo.InvariantCulture)).ToList();
            Assert.Equal(problemRows.Order(), problemRows);
            Assert.Equal(problemRows.Count, problemRows.Distinct().Count());
            Assert.All(problemRows, r => Assert.InRange(r, 1, read));
            Assert.Equal(read, result.Servers.Count + problemRows.Count);
            Assert.Equal(rows.Count > YbServersParser.MaxRows ? 1 : 0, result.Problems.Count - problemRows.Count);

            // The rows not reported are the servers, in order; a row is reported only when it is unusable or a duplicate.
            var reported = problemRows.ToHashSet();
            var next = 0;
            var seen = new HashSet<(string, int)>();
            for (var i = 0; i < read; i++)
            {
                var row = rows[i];
                var usable = !string.IsNullOrWhiteSpace(row.Host) && row.Port is >= 1 and <= 65535
                    && KnownTypes.Contains(row.NodeType?.Trim().ToLowerInvariant())
                    && new[] { row.Host, row.NodeType, row.Cloud, row.Region, row.Zone, row.PublicIp, row.Uuid }
                        .All(f => f is null || f.Length <= YbServersParser.MaxFieldLength);
                if (reported.Contains(i + 1))
                {
                    if (usable && seen.Add((ConnectHost(row, result.UsesPublicIp).ToLowerInvariant(), (int)row.Port!.Value)))
                        Assert.Fail($"row {i + 1} is usable and new, yet reported: {result.Problems.First(p => p.StartsWith($"row {i + 1}:", StringComparison.Ordinal))}");
                    continue;
                }

                if (!usable)
                    Assert.Fail($"row {i + 1} is not usable, yet no problem was reported: {row}");
                var server = result.Servers[next++];
                Assert.Equal(row.Host!.Trim(), server.Host);
                Assert.Equal(row.Port, server.Port);
                Assert.True(seen.Add((server.ConnectHost.ToLowerInvariant(), server.Port)));
            }

            Assert.Equal(result.Servers.Count, next);
        }, iter: Cases, print: t => $"{t.Item1.Count} rows, given {string.Join(",", t.Item2)}:\n{string.Join("\n", t.Item1.Take(50))}");
    }

    static string ConnectHost(YbServersRow row, bool usesPublicIp) =>
        usesPublicIp && !string.IsNullOrWhiteSpace(row.PublicIp) ? row.PublicIp.Trim() : row.Host!.Trim();
}
