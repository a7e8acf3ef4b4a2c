using Npgsql;

namespace BmSampleApps.Workloads;

/// <summary>
/// One workload: its table and its two operations. The local cluster's nodes share no data, so a workload's table exists
/// on every node and each operation reads or writes the node its connection reached (<see cref="Running.WorkloadRunner"/>
/// keeps the keys written on each node, for the reads there).
/// </summary>
abstract class Workload(string table)
{
    /// <summary>The workloads by name, as <c>--workload</c> takes them.</summary>
    public static readonly IReadOnlyList<string> Names = ["SqlInserts", "SqlUpdates", "SqlSecondaryIndex"];

    protected string Table { get; } = table;

    /// <summary>Whether a write of a key already written updates it (rather than inserting a new key).</summary>
    public abstract bool Updates { get; }

    /// <summary>Makes the table afresh on the node <paramref name="connection"/> reached.</summary>
    public abstract Task CreateTableAsync(NpgsqlConnection connection, CancellationToken cancellationToken);

    /// <summary>Writes <paramref name="key"/>; returns the rows it added (0 for an update).</summary>
    public abstract Task<int> WriteAsync(NpgsqlConnection connection, long key, CancellationToken cancellationToken);

    /// <summary>Reads <paramref name="key"/>; returns whether it was found.</summary>
    public abstract Task<bool> ReadAsync(NpgsqlConnection connection, long key, CancellationToken cancellationToken);

    public static Workload Create(string name, string table) => name switch
    {
        "SqlInserts" => new SqlInserts(table),
        "SqlUpdates" => new SqlUpdates(table),
        "SqlSecondaryIndex" => new SqlSecondaryIndex(table),
        _ => throw new ArgumentException($"Unknown workload '{name}': choose {string.Join(", ", Names)}.", nameof(name)),
    };

    protected static async Task<int> ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken, params object[] values)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var value in values)
            command.Parameters.Add(new NpgsqlParameter { Value = value });
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    protected static async Task<bool> ExistsAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken, object value)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.Add(new NpgsqlParameter { Value = value });
        return await command.ExecuteScalarAsync(cancellationToken) is not null;
    }
}

/// <summary>Key-value inserts of new keys, and reads of the keys written (yb-sample-apps' SqlInserts).</summary>
sealed class SqlInserts(string table) : Workload(table)
{
    public override bool Updates => false;

    public override Task CreateTableAsync(NpgsqlConnection connection, CancellationToken cancellationToken) =>
        ExecuteAsync(connection, $"drop table if exists {Table}; create table {Table} (k bigint primary key, v text not null)", cancellationToken);

    public override Task<int> WriteAsync(NpgsqlConnection connection, long key, CancellationToken cancellationToken) =>
        ExecuteAsync(connection, $"insert into {Table} (k, v) values ($1, $2)", cancellationToken, key, $"val:{key}");

    public override Task<bool> ReadAsync(NpgsqlConnection connection, long key, CancellationToken cancellationToken) =>
        ExistsAsync(connection, $"select v from {Table} where k = $1", cancellationToken, key);
}

/// <summary>Updates of keys (inserted the first time), and reads of them (yb-sample-apps' SqlUpdates).</summary>
sealed class SqlUpdates(string table) : Workload(table)
{
    public override bool Updates => true;

    public override Task CreateTableAsync(NpgsqlConnection connection, CancellationToken cancellationToken) =>
        ExecuteAsync(connection, $"drop table if exists {Table}; create table {Table} (k bigint primary key, v text not null, version bigint not null)", cancellationToken);

    public override async Task<int> WriteAsync(NpgsqlConnection connection, long key, CancellationToken cancellationToken)
    {
        // xmax is 0 on a row this statement inserted, and set on one it updated.
        await using var command = new NpgsqlCommand(
            $"insert into {Table} (k, v, version) values ($1, $2, 1) on conflict (k) do update set v = excluded.v, version = {Table}.version + 1 returning (xmax = 0)::int",
            connection);
        command.Parameters.Add(new NpgsqlParameter { Value = key });
        command.Parameters.Add(new NpgsqlParameter { Value = $"val:{key}:{Environment.TickCount64}" });
        return (int)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    public override Task<bool> ReadAsync(NpgsqlConnection connection, long key, CancellationToken cancellationToken) =>
        ExistsAsync(connection, $"select v from {Table} where k = $1", cancellationToken, key);
}

/// <summary>Inserts into a table with a secondary index, and reads through that index (yb-sample-apps' SqlSecondaryIndex).</summary>
sealed class SqlSecondaryIndex(string table) : Workload(table)
{
    public override bool Updates => false;

    public override Task CreateTableAsync(NpgsqlConnection connection, CancellationToken cancellationToken) =>
        ExecuteAsync(connection,
            $"drop table if exists {Table}; create table {Table} (k bigint primary key, v text not null); create index {Table}_v on {Table} (v)",
            cancellationToken);

    public override Task<int> WriteAsync(NpgsqlConnection connection, long key, CancellationToken cancellationToken) =>
        ExecuteAsync(connection, $"insert into {Table} (k, v) values ($1, $2)", cancellationToken, key, $"val:{key}");

    public override Task<bool> ReadAsync(NpgsqlConnection connection, long key, CancellationToken cancellationToken) =>
        ExistsAsync(connection, $"select k from {Table} where v = $1", cancellationToken, $"val:{key}");
}
