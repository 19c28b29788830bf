using Dapper;

namespace Bot.Core.Storage;

/// <summary>
/// Short independent writes (a handled callback's mark, a sent item's outcome) from work running side by side, combined
/// into shared transactions: whoever finds no commit under way writes every waiting statement in one transaction and
/// hands the next batch to the first statement that arrived meanwhile, so no writer is kept leading and no thread
/// waits idle. One commit per batch instead of one per statement leaves the single SQLite writer to the callbacks
/// still arriving. A batch fails as a whole: each of its writers sees the error, as if its own write had failed.
/// </summary>
internal sealed class CombinedWrites(BotDatabase database)
{
    private readonly Lock _gate = new();
    private List<PendingWrite> _waiting = [];
    private bool _committing;

    /// <summary>Runs <paramref name="sql"/> in the next shared transaction; returns the rows it affected.</summary>
    public async Task<int> ExecuteAsync(string sql, object parameters)
    {
        var write = new PendingWrite(sql, parameters);
        bool lead;
        lock (_gate)
        {
            _waiting.Add(write);
            lead = !_committing;
            _committing = true;
        }
        // Not cancellable once queued: these writes record what already happened, and each is short.
        if (!lead && await write.Outcome.Task is { } rows)
        {
            return rows;
        }
        return await CommitAsync(write);
    }

    private async Task<int> CommitAsync(PendingWrite leader)
    {
        List<PendingWrite> batch;
        lock (_gate)
        {
            batch = _waiting;
            _waiting = [];
        }
        try
        {
            var rows = new int[batch.Count];
            await using (var write = await database.OpenWriteAsync(CancellationToken.None))
            {
                await using var tx = await write.Connection.BeginTransactionAsync(CancellationToken.None);
                for (var i = 0; i < batch.Count; i++)
                {
                    rows[i] = await write.Connection.ExecuteAsync(new CommandDefinition(batch[i].Sql, batch[i].Parameters, tx));
                }
                await tx.CommitAsync(CancellationToken.None);
            }
            for (var i = 0; i < batch.Count; i++)
            {
                batch[i].Outcome.TrySetResult(rows[i]);
            }
            return rows[batch.IndexOf(leader)];
        }
        catch (Exception ex)
        {
            foreach (var write in batch.Where(w => w != leader))
            {
                write.Outcome.TrySetException(ex);
            }
            throw;
        }
        finally
        {
            lock (_gate)
            {
                if (_waiting.Count > 0)
                {
                    // Null tells the first waiting write to commit the next batch itself.
                    _waiting[0].Outcome.TrySetResult(null);
                }
                else
                {
                    _committing = false;
                }
            }
        }
    }

    /// <summary>A write waiting for a commit; its outcome is the rows affected, or null when it is to lead the next commit.</summary>
    private sealed class PendingWrite(string sql, object parameters)
    {
        public string Sql { get; } = sql;
        public object Parameters { get; } = parameters;
        public TaskCompletionSource<int?> Outcome { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
