using Bot.Core.Storage;
using Dapper;

namespace Bot.Core.Campaigns.MassMessages;

public static class MassMessageState
{
    public const string Pending = "pending", Confirmed = "confirmed", Stale = "stale";
}

/// <summary>A tracked mass-message task with its recipient counts by get_groupmsg_send_result status.</summary>
public sealed record MassMessageTaskView
{
    public long OutboxId { get; init; }
    public string MsgId { get; init; } = "";
    public string Kind { get; init; } = "";
    public string Target { get; init; } = "";
    public string? Script { get; init; }
    public string State { get; init; } = "";
    public long SentAt { get; init; }
    public long NextPollAt { get; init; }
    public int Reminders { get; init; }
    public int SendersTotal { get; init; }
    public int SendersSent { get; init; }
    public long? SettledAt { get; init; }
    public string? Note { get; init; }
    public int RecipientsSent { get; init; }
    public int RecipientsNotSent { get; init; }
    public int RecipientsNotFriend { get; init; }
    public int RecipientsAlreadyReceived { get; init; }
}

/// <summary>One recipient's fate as recorded from get_groupmsg_send_result.</summary>
public sealed record MassMessageRecipient
{
    public string Sender { get; init; } = "";

    /// <summary>The external user id, or the chat id for a task sent to customer groups.</summary>
    public string Recipient { get; init; } = "";

    /// <summary>0 not sent, 1 sent, 2 not a friend any more, 3 already received another mass message (FACTS 6.3).</summary>
    public int Status { get; init; }

    /// <summary>Unix seconds, as WeCom reports it.</summary>
    public long? SendTime { get; init; }
}

/// <summary>Mass-message tasks awaiting or past their sender's confirmation. Times are Unix milliseconds (UTC).</summary>
public sealed class MassMessageStore(BotDatabase database)
{
    private const string TaskColumns = """
        t.outbox_id AS OutboxId, t.msg_id AS MsgId, t.kind AS Kind, t.target AS Target, t.script AS Script, t.state AS State,
        t.sent_at AS SentAt, t.next_poll_at AS NextPollAt, t.reminders AS Reminders, t.senders_total AS SendersTotal,
        t.senders_sent AS SendersSent, t.settled_at AS SettledAt, t.note AS Note,
        (SELECT COUNT(*) FROM mass_message_recipients r WHERE r.outbox_id = t.outbox_id AND r.status = 1) AS RecipientsSent,
        (SELECT COUNT(*) FROM mass_message_recipients r WHERE r.outbox_id = t.outbox_id AND r.status = 0) AS RecipientsNotSent,
        (SELECT COUNT(*) FROM mass_message_recipients r WHERE r.outbox_id = t.outbox_id AND r.status = 2) AS RecipientsNotFriend,
        (SELECT COUNT(*) FROM mass_message_recipients r WHERE r.outbox_id = t.outbox_id AND r.status = 3) AS RecipientsAlreadyReceived
        """;

    private readonly string _discoverSql = database.Dialect.Pick(SqliteDiscover, MassMessageSqlServerStatements.Discover);
    private readonly string _selectDueSql = database.Dialect.Pick(SqliteSelectDue, MassMessageSqlServerStatements.SelectDue);
    private readonly string _upsertRecipientSql = database.Dialect.Pick(SqliteUpsertRecipient, MassMessageSqlServerStatements.UpsertRecipient);
    private readonly string _listSql = database.Dialect.Pick(SqliteList, MassMessageSqlServerStatements.List);

    private const string SqliteDiscover = """
        INSERT OR IGNORE INTO mass_message_tasks (outbox_id, msg_id, kind, target, script, state, sent_at, next_poll_at)
        SELECT o.id, o.remote_ids, o.kind, o.target, o.rule_name, 'pending', o.completed_at, @Now
        FROM outbox o
        WHERE o.state = 'sent' AND o.lane = 3 AND o.kind IN ('seeding_post', 'broadcast')
          AND o.remote_ids IS NOT NULL AND o.remote_ids <> '' AND o.completed_at >= @Since
          AND NOT EXISTS (SELECT 1 FROM mass_message_tasks t WHERE t.outbox_id = o.id)
        """;

    /// <summary>
    /// Starts tracking the sent mass-message items completed since <paramref name="since"/> (older ones predate the
    /// tracker or its downtime and would only be declared stale unasked). Returns how many were added.
    /// </summary>
    public async Task<int> DiscoverAsync(DateTimeOffset now, DateTimeOffset since, CancellationToken ct)
    {
        await using var write = await database.OpenWriteAsync(ct);
        return await write.Connection.ExecuteAsync(new CommandDefinition(
            _discoverSql,
            new { Now = now.ToUnixTimeMilliseconds(), Since = since.ToUnixTimeMilliseconds() }, cancellationToken: ct));
    }

    private const string SqliteSelectDue = """
        SELECT outbox_id AS OutboxId, next_poll_at AS NextPollAt FROM mass_message_tasks
        WHERE state = 'pending' AND next_poll_at <= @Now ORDER BY next_poll_at LIMIT @Limit
        """;

    /// <summary>
    /// Claims pending tasks due for a poll by moving their next poll on; a task another instance moved first is not
    /// returned, so two trackers never remind the same task twice.
    /// </summary>
    public async Task<IReadOnlyList<MassMessageTaskView>> ClaimDueAsync(DateTimeOffset now, TimeSpan pollInterval, int limit, CancellationToken ct)
    {
        const string claim = """
            UPDATE mass_message_tasks SET next_poll_at = @Next
            WHERE outbox_id = @OutboxId AND next_poll_at = @Old AND state = 'pending'
            """;
        const string read = $"SELECT {TaskColumns} FROM mass_message_tasks t WHERE t.outbox_id IN @Ids";
        await using var write = await database.OpenWriteAsync(ct);
        var nowMs = now.ToUnixTimeMilliseconds();
        var due = await write.Connection.QueryAsync<(long OutboxId, long NextPollAt)>(new CommandDefinition(
            _selectDueSql, new { Now = nowMs, Limit = limit }, cancellationToken: ct));
        var claimed = new List<long>();
        var next = (now + pollInterval).ToUnixTimeMilliseconds();
        foreach (var (id, old) in due)
        {
            if (await write.Connection.ExecuteAsync(new CommandDefinition(claim, new { OutboxId = id, Old = old, Next = next }, cancellationToken: ct)) == 1)
            {
                claimed.Add(id);
            }
        }
        if (claimed.Count == 0)
        {
            return [];
        }
        return (await write.Connection.QueryAsync<MassMessageTaskView>(new CommandDefinition(read, new { Ids = claimed }, cancellationToken: ct))).ToList();
    }

    private const string SqliteUpsertRecipient = """
        INSERT INTO mass_message_recipients (outbox_id, sender, recipient, status, send_time)
        VALUES (@OutboxId, @Sender, @Recipient, @Status, @SendTime)
        ON CONFLICT (outbox_id, sender, recipient) DO UPDATE SET status = excluded.status, send_time = excluded.send_time
        """;

    /// <summary>Records what WeCom reported for the task's senders and recipients (re-polls overwrite).</summary>
    public async Task RecordProgressAsync(long outboxId, int sendersTotal, int sendersSent, IReadOnlyList<MassMessageRecipient> recipients, CancellationToken ct)
    {
        const string counts = "UPDATE mass_message_tasks SET senders_total = @SendersTotal, senders_sent = @SendersSent WHERE outbox_id = @OutboxId";
        await using var write = await database.OpenWriteAsync(ct);
        await using var tx = await write.Connection.BeginTransactionAsync(ct);
        foreach (var r in recipients)
        {
            await write.Connection.ExecuteAsync(new CommandDefinition(_upsertRecipientSql,
                new { OutboxId = outboxId, r.Sender, r.Recipient, r.Status, r.SendTime }, tx, cancellationToken: ct));
        }
        await write.Connection.ExecuteAsync(new CommandDefinition(counts,
            new { OutboxId = outboxId, SendersTotal = sendersTotal, SendersSent = sendersSent }, tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
    }

    /// <summary>Moves a pending task to confirmed or stale; false when it was no longer pending.</summary>
    public async Task<bool> SettleAsync(long outboxId, string state, DateTimeOffset at, string? note, CancellationToken ct)
    {
        const string sql = """
            UPDATE mass_message_tasks SET state = @State, settled_at = @At, note = @Note
            WHERE outbox_id = @OutboxId AND state = 'pending'
            """;
        await using var write = await database.OpenWriteAsync(ct);
        return await write.Connection.ExecuteAsync(new CommandDefinition(sql,
            new { OutboxId = outboxId, State = state, At = at.ToUnixTimeMilliseconds(), Note = note }, cancellationToken: ct)) == 1;
    }

    /// <summary>
    /// Counts a reminder before it is sent (remind_groupmsg_send is not safe to repeat); false when the count moved
    /// meanwhile, and then the caller must not remind.
    /// </summary>
    public async Task<bool> RecordReminderAsync(long outboxId, int expectedReminders, DateTimeOffset at, CancellationToken ct)
    {
        const string sql = """
            UPDATE mass_message_tasks SET reminders = reminders + 1, last_reminded_at = @At
            WHERE outbox_id = @OutboxId AND reminders = @Expected AND state = 'pending'
            """;
        await using var write = await database.OpenWriteAsync(ct);
        return await write.Connection.ExecuteAsync(new CommandDefinition(sql,
            new { OutboxId = outboxId, Expected = expectedReminders, At = at.ToUnixTimeMilliseconds() }, cancellationToken: ct)) == 1;
    }

    private const string SqliteList = $"""
        SELECT {TaskColumns} FROM mass_message_tasks t
        WHERE (@State IS NULL OR t.state = @State) ORDER BY t.outbox_id DESC LIMIT @Limit
        """;

    public async Task<IReadOnlyList<MassMessageTaskView>> ListAsync(string? state, int limit, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        return (await connection.QueryAsync<MassMessageTaskView>(new CommandDefinition(
            _listSql, new { State = state, Limit = limit }, cancellationToken: ct))).ToList();
    }

    public async Task<IReadOnlyList<MassMessageRecipient>> ListRecipientsAsync(long outboxId, CancellationToken ct)
    {
        const string sql = """
            SELECT sender AS Sender, recipient AS Recipient, status AS Status, send_time AS SendTime
            FROM mass_message_recipients WHERE outbox_id = @OutboxId ORDER BY sender, recipient
            """;
        await using var connection = await database.OpenAsync(ct);
        return (await connection.QueryAsync<MassMessageRecipient>(new CommandDefinition(sql, new { OutboxId = outboxId }, cancellationToken: ct))).ToList();
    }

}

[SqlServerStatements]
internal static class MassMessageSqlServerStatements
{
    public const string Discover = """
        INSERT INTO dbo.mass_message_tasks (outbox_id, msg_id, kind, target, script, state, sent_at, next_poll_at)
        SELECT o.id, o.remote_ids, o.kind, o.target, o.rule_name, 'pending', o.completed_at, @Now
        FROM dbo.outbox o
        WHERE o.state = 'sent' AND o.lane = 3 AND o.kind IN ('seeding_post', 'broadcast')
          AND o.remote_ids IS NOT NULL AND o.remote_ids <> '' AND o.completed_at >= @Since
          AND NOT EXISTS (SELECT 1 FROM dbo.mass_message_tasks t WITH (UPDLOCK, HOLDLOCK) WHERE t.outbox_id = o.id);
        """;

    public const string SelectDue = """
        SELECT TOP (@Limit) outbox_id AS OutboxId, next_poll_at AS NextPollAt FROM dbo.mass_message_tasks
        WHERE state = 'pending' AND next_poll_at <= @Now ORDER BY next_poll_at;
        """;

    public const string UpsertRecipient = """
        MERGE dbo.mass_message_recipients WITH (HOLDLOCK) AS target
        USING (SELECT @OutboxId AS outbox_id, @Sender AS sender, @Recipient AS recipient) AS source
        ON target.outbox_id = source.outbox_id AND target.sender = source.sender AND target.recipient = source.recipient
        WHEN MATCHED THEN UPDATE SET status = @Status, send_time = @SendTime
        WHEN NOT MATCHED THEN INSERT (outbox_id, sender, recipient, status, send_time) VALUES (@OutboxId, @Sender, @Recipient, @Status, @SendTime);
        """;

    public const string List = """
        SELECT TOP (@Limit)
            t.outbox_id AS OutboxId, t.msg_id AS MsgId, t.kind AS Kind, t.target AS Target, t.script AS Script, t.state AS State,
            t.sent_at AS SentAt, t.next_poll_at AS NextPollAt, t.reminders AS Reminders, t.senders_total AS SendersTotal,
            t.senders_sent AS SendersSent, t.settled_at AS SettledAt, t.note AS Note,
            (SELECT COUNT(*) FROM dbo.mass_message_recipients r WHERE r.outbox_id = t.outbox_id AND r.status = 1) AS RecipientsSent,
            (SELECT COUNT(*) FROM dbo.mass_message_recipients r WHERE r.outbox_id = t.outbox_id AND r.status = 0) AS RecipientsNotSent,
            (SELECT COUNT(*) FROM dbo.mass_message_recipients r WHERE r.outbox_id = t.outbox_id AND r.status = 2) AS RecipientsNotFriend,
            (SELECT COUNT(*) FROM dbo.mass_message_recipients r WHERE r.outbox_id = t.outbox_id AND r.status = 3) AS RecipientsAlreadyReceived
        FROM dbo.mass_message_tasks t
        WHERE (@State IS NULL OR t.state = @State) ORDER BY t.outbox_id DESC;
        """;
}
