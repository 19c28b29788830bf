using System.Security.Cryptography;
using System.Text;
using Bot.Core.Storage;
using Dapper;

namespace Bot.Core.Outbox;

/// <summary>One robot paused by a configuration alarm: named by <see cref="RobotAlarms.NameOf"/>, never by its key.</summary>
public sealed record RobotAlarm(string RobotName, int ErrCode, string ErrMsg, long? OutboxId, DateTimeOffset RaisedAt);

/// <summary>
/// Configuration alarms on group robots (93000: the webhook key is invalid or the robot left the group, FACTS §5.11).
/// Stored in the database, so a robot one instance found broken is paused on every instance until an operator clears
/// it; a changed robot_key in the rule file is a new robot name and is not paused.
/// </summary>
public sealed class RobotAlarms(BotDatabase database)
{
    /// <summary>How often a post waiting on a paused robot looks again whether the alarm was cleared.</summary>
    public static readonly TimeSpan RecheckEvery = TimeSpan.FromSeconds(5);

    private readonly string _raiseSql = database.Dialect.Pick(SqliteRaise, RobotAlarmSqlServerStatements.Raise);

    private const string SqliteRaise = """
        INSERT INTO robot_alarms (robot_name, errcode, errmsg, outbox_id, raised_at)
        VALUES (@RobotName, @ErrCode, @ErrMsg, @OutboxId, @RaisedAt)
        ON CONFLICT (robot_name) DO NOTHING
        """;

    /// <summary>
    /// The name a robot goes by on /readyz, /admin, in logs and metrics: a short fingerprint of its webhook key, since
    /// the key itself is the secret that lets anyone post as the robot.
    /// </summary>
    public static string NameOf(string robotKey) =>
        "robot-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(robotKey)))[..12];

    /// <summary>Raises the alarm; the first raise is kept (its time and item say when the robot broke).</summary>
    public async Task RaiseAsync(RobotAlarm alarm, CancellationToken ct)
    {
        await using var write = await database.OpenWriteAsync(ct);
        await write.Connection.ExecuteAsync(new CommandDefinition(_raiseSql, new
        {
            alarm.RobotName, alarm.ErrCode, alarm.ErrMsg, alarm.OutboxId, RaisedAt = alarm.RaisedAt.ToUnixTimeMilliseconds(),
        }, cancellationToken: ct));
    }

    /// <summary>Clears the alarm; false when there was none by that name.</summary>
    public async Task<bool> ClearAsync(string robotName, CancellationToken ct)
    {
        await using var write = await database.OpenWriteAsync(ct);
        return await write.Connection.ExecuteAsync(new CommandDefinition(
            "DELETE FROM robot_alarms WHERE robot_name = @RobotName", new { RobotName = robotName }, cancellationToken: ct)) > 0;
    }

    public async Task<bool> IsPausedAsync(string robotName, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        return await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            "SELECT COUNT(*) FROM robot_alarms WHERE robot_name = @RobotName", new { RobotName = robotName }, cancellationToken: ct)) > 0;
    }

    public async Task<IReadOnlyList<RobotAlarm>> ListAsync(CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var rows = await connection.QueryAsync<Row>(new CommandDefinition(
            "SELECT robot_name AS RobotName, errcode AS ErrCode, errmsg AS ErrMsg, outbox_id AS OutboxId, raised_at AS RaisedAt FROM robot_alarms ORDER BY raised_at",
            cancellationToken: ct));
        return rows.Select(r => new RobotAlarm(r.RobotName, (int)r.ErrCode, r.ErrMsg, r.OutboxId, DateTimeOffset.FromUnixTimeMilliseconds(r.RaisedAt))).ToList();
    }

    private sealed class Row
    {
        public string RobotName { get; init; } = "";
        public long ErrCode { get; init; }
        public string ErrMsg { get; init; } = "";
        public long? OutboxId { get; init; }
        public long RaisedAt { get; init; }
    }
}

[SqlServerStatements]
internal static class RobotAlarmSqlServerStatements
{
    public const string Raise = """
        MERGE dbo.robot_alarms WITH (HOLDLOCK) AS target
        USING (SELECT @RobotName AS robot_name) AS source
        ON target.robot_name = source.robot_name
        WHEN NOT MATCHED THEN
            INSERT (robot_name, errcode, errmsg, outbox_id, raised_at) VALUES (@RobotName, @ErrCode, @ErrMsg, @OutboxId, @RaisedAt);
        """;
}
