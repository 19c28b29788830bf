using Bot.Core.Rules;
using Microsoft.Extensions.Logging;

namespace Bot.Core.Campaigns.Lottery;

// The definition side: what the rule files say against what is stored, and which stored lottery a keyword enters.
public sealed partial class LotteryService
{
    /// <summary>Completes when <see cref="SyncDefinitionsAsync"/> stored something, so the worker re-plans its sleep.</summary>
    internal Task Changed => Volatile.Read(ref _changed).Task;

    /// <summary>
    /// Records the lotteries of the rule file. New ones are stored; ones that have not opened take the new definition;
    /// opened ones keep their stored keyword, times, prizes, eligibility and groups (a change there is refused and
    /// reported), and a removed opened lottery stays stored and is still drawn. Returns one message per refusal.
    /// </summary>
    public async Task<IReadOnlyList<string>> SyncDefinitionsAsync(IReadOnlyList<LotteryDefinition> definitions, CancellationToken cancellationToken)
    {
        var errors = new List<string>();
        var now = _time.GetUtcNow();
        var stored = (await _store.ListAsync(cancellationToken)).ToDictionary(r => r.Name, StringComparer.Ordinal);

        // Built from a compiled rule set: the rule compiler is the one validation (names unique and not blank,
        // keyword, times, prizes and their names, groups).
        foreach (var definition in definitions)
        {
            if (await SyncOneAsync(definition, stored.GetValueOrDefault(definition.Name), now, cancellationToken) is { } refusal)
            {
                errors.Add(refusal);
            }
        }

        var listed = definitions.Select(d => d.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var row in stored.Values.Where(r => !listed.Contains(r.Name)))
        {
            if (!HasOpened(row, now) && await _store.DeletePendingAsync(row.Name, cancellationToken))
            {
                Log.RemovedBeforeOpening(_logger, row.Name);
            }
            else if (row.State != LotteryState.Drawn)
            {
                Log.RemovedAfterOpening(_logger, row.Name);
            }
        }

        foreach (var error in errors)
        {
            Log.DefinitionRefused(_logger, error);
        }
        Interlocked.Exchange(ref _changed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        return errors;
    }

    private async Task<string?> SyncOneAsync(LotteryDefinition definition, LotteryRow? row, DateTimeOffset now, CancellationToken ct)
    {
        if (row is null)
        {
            if (await _store.InsertAsync(definition, now.ToUnixTimeMilliseconds(), ct))
            {
                await CommitIfOpenedAsync(definition.Name, now, ct);
                return null;
            }
            // Another instance stored it a moment ago: compare against what it stored.
            row = await _store.FindAsync(definition.Name, ct);
            if (row is null)
            {
                return $"lottery '{definition.Name}' was removed by another instance while being stored; it is applied on the next reload";
            }
        }

        if (!HasOpened(row, now))
        {
            if (await _store.ReplacePendingAsync(definition, ct))
            {
                await CommitIfOpenedAsync(definition.Name, now, ct);
                return null;
            }
            row = await _store.FindAsync(definition.Name, ct) ?? row;
        }

        // Opened: its commitment exists (or is made now) before anything is compared.
        await CommitIfOpenedAsync(row.Name, now, ct);
        var inForce = row.Parse();
        var changes = inForce.LockedChanges(definition);
        if (changes.Count > 0)
        {
            return $"lottery '{definition.Name}' opened at {inForce.Opens:yyyy-MM-dd HH:mm zzz}; its {string.Join(", ", changes)} " +
                   "cannot change after it opens, so the stored definition stays in force (start a new lottery under another name instead)";
        }
        if (inForce.AnnounceTemplate != definition.AnnounceTemplate || inForce.TagWinners != definition.TagWinners)
        {
            await _store.ReplaceUnlockedAsync(definition, ct);
        }
        return null;
    }

    private static bool HasOpened(LotteryRow row, DateTimeOffset now) =>
        row.State != LotteryState.Pending || row.OpensUnixMs <= now.ToUnixTimeMilliseconds();

    /// <summary>
    /// The lotteries a group message sent at <paramref name="at"/> enters by keyword, judged by their stored definitions:
    /// an opened lottery keeps its keyword, times and groups when a reload edits them (the edit is refused), so the rule
    /// files are not what decides. Matched as the rules match lottery keywords (<see cref="LotteryKeywords"/>).
    /// </summary>
    public async Task<IReadOnlyList<string>> MatchKeywordAsync(string text, string? groupName, DateTimeOffset at, CancellationToken cancellationToken)
    {
        var inForce = (await _store.ListAsync(cancellationToken)).Where(r => r.State != LotteryState.Drawn).Select(r => r.Parse()).ToList();
        var terms = inForce.Select(d => new LotteryKeywords.Terms(
            d.Keyword, [.. d.GroupGlobs.Select(p => Glob.TryCompile(p, out _)).OfType<Glob>()], d.Opens, d.Draws)).ToList();
        return [.. new LotteryKeywords(terms).Match(text, isGroup: true, groupName, at).Select(i => inForce[i].Name)];
    }
}
