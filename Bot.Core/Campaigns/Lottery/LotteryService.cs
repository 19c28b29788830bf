using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Bot.Core.Campaigns.Lottery;

/// <summary>
/// Lottery entries, draws and audit data. The store is the only source of truth, so any number of instances can
/// run this side by side: each state change (pending → open → drawn) happens once, on the instance whose
/// conditional UPDATE wins.
/// </summary>
public sealed partial class LotteryService
{
    private readonly LotteryStore _store;
    private readonly TimeProvider _time;
    private readonly LotteryWinnerNames _names;
    private readonly IOptionsMonitor<LotteryOptions> _options;
    private readonly ILogger<LotteryService> _logger;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    internal LotteryService(LotteryStore store, TimeProvider time, LotteryWinnerNames names, IOptionsMonitor<LotteryOptions> options, ILogger<LotteryService> logger)
    {
        _store = store;
        _time = time;
        _names = names;
        _options = options;
        _logger = logger;
    }

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

        foreach (var duplicate in definitions.GroupBy(d => d.Name, StringComparer.Ordinal).Where(g => g.Count() > 1))
        {
            errors.Add($"lottery '{duplicate.Key}' is defined {duplicate.Count()} times; none of them was applied");
        }
        foreach (var definition in definitions.GroupBy(d => d.Name, StringComparer.Ordinal).Where(g => g.Count() == 1).Select(g => g.Single()))
        {
            var problems = definition.Problems();
            if (problems.Count > 0)
            {
                errors.Add($"lottery '{definition.Name}' is invalid: {string.Join("; ", problems)}");
                continue;
            }
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
    /// The name of the lottery (as stored, so a refused edit does not change the keyword in force) that a message with
    /// this text in a group with this name enters, or null. The text must be the keyword itself, trimmed.
    /// </summary>
    public async Task<string?> MatchKeywordAsync(string groupName, string text, CancellationToken cancellationToken)
    {
        var trimmed = text.Trim();
        foreach (var row in await _store.ListAsync(cancellationToken))
        {
            if (row.State == LotteryState.Drawn)
            {
                continue;
            }
            var definition = row.Parse();
            if (definition.Keyword.Trim() == trimmed && definition.GroupGlobs.Any(glob => Glob.Matches(glob, groupName)))
            {
                return row.Name;
            }
        }
        return null;
    }

    /// <summary>Every lottery the customer entered, newest first.</summary>
    public Task<IReadOnlyList<LotteryEntryRecord>> EntriesOfAsync(string externalUserId, CancellationToken cancellationToken) =>
        _store.EntriesOfAsync(externalUserId, cancellationToken);

    /// <summary>
    /// Enters a customer, from a group keyword or the HTTP endpoint alike. Tags are the customer's current tag names.
    /// </summary>
    public async Task<LotteryEntryOutcome> EnterAsync(
        string lottery,
        string externalUserId,
        string? chatId,
        IReadOnlyCollection<string> customerTags,
        string source,
        CancellationToken cancellationToken)
    {
        var row = await _store.FindAsync(lottery, cancellationToken);
        if (row is null)
        {
            return LotteryEntryOutcome.UnknownLottery;
        }
        var now = _time.GetUtcNow();
        var nowMs = now.ToUnixTimeMilliseconds();
        if (nowMs < row.OpensUnixMs)
        {
            return LotteryEntryOutcome.NotOpenYet;
        }
        if (nowMs >= row.DrawsUnixMs || row.State == LotteryState.Drawn)
        {
            return LotteryEntryOutcome.Closed;
        }

        // The commitment must be public before the first entry, whether or not the worker got here first.
        await CommitIfOpenedAsync(lottery, now, cancellationToken);

        var definition = row.Parse();
        var eligible = definition.EligibleTagsAny.Count == 0 || definition.EligibleTagsAny.Any(t => customerTags.Contains(t, StringComparer.Ordinal));
        if (!eligible)
        {
            // Someone who entered while eligible and lost the tag since is still entered.
            return await _store.HasEntryAsync(lottery, externalUserId, cancellationToken)
                ? LotteryEntryOutcome.AlreadyEntered
                : LotteryEntryOutcome.NotEligible;
        }
        if (await _store.InsertEntryAsync(lottery, externalUserId, chatId, source, nowMs, cancellationToken))
        {
            Log.Entered(_logger, lottery, externalUserId, source);
            return LotteryEntryOutcome.Entered;
        }
        return await _store.HasEntryAsync(lottery, externalUserId, cancellationToken)
            ? LotteryEntryOutcome.AlreadyEntered
            : LotteryEntryOutcome.Closed;
    }

    /// <summary>The public audit data, or null for an unknown lottery.</summary>
    public async Task<LotteryAudit?> GetAuditAsync(string lottery, CancellationToken cancellationToken)
    {
        var row = await _store.FindAsync(lottery, cancellationToken);
        if (row is null)
        {
            return null;
        }
        var definition = row.Parse();
        var drawn = row.State == LotteryState.Drawn;
        return new LotteryAudit(
            row.Name,
            row.State,
            definition.Opens,
            definition.Draws,
            row.Fingerprint,
            definition.Prizes,
            row.Commitment,
            FromUnixMs(row.CommittedUnixMs),
            await _store.CountEntriesAsync(lottery, cancellationToken),
            drawn ? row.Seed : null,
            drawn ? LotteryDraw.Canonical(await _store.EntrantsAsync(lottery, cancellationToken)) : null,
            drawn ? row.EntryListHash : null,
            drawn ? await _store.WinnersAsync(lottery, cancellationToken) : null,
            FromUnixMs(row.DrawnUnixMs),
            row.Late);
    }

    /// <summary>
    /// When and where a lottery's results would be announced: its draw time, state, and the groups it has entries from
    /// so far (the draw announces in those); null for an unknown lottery.
    /// </summary>
    internal async Task<LotteryAnnouncementPlan?> PlanAnnouncementAsync(string lottery, CancellationToken ct)
    {
        if (await _store.FindAsync(lottery, ct) is not { } row)
        {
            return null;
        }
        var chats = (await _store.EntryChatIdsAsync(lottery, ct)).Order(StringComparer.Ordinal).ToList();
        return new LotteryAnnouncementPlan(row.Name, row.State, DateTimeOffset.FromUnixTimeMilliseconds(row.DrawsUnixMs), chats);
    }

    /// <summary>Opens (commits a seed for) every stored lottery whose opening time has come by <paramref name="now"/>.</summary>
    internal async Task CommitOpenedAsync(DateTimeOffset now, CancellationToken ct)
    {
        foreach (var row in await _store.ListAsync(ct))
        {
            if (row.State == LotteryState.Pending && row.OpensUnixMs <= now.ToUnixTimeMilliseconds())
            {
                await CommitIfOpenedAsync(row.Name, now, ct);
            }
        }
    }

    private async Task CommitIfOpenedAsync(string lottery, DateTimeOffset now, CancellationToken ct)
    {
        var row = await _store.FindAsync(lottery, ct);
        if (row is not { State: LotteryState.Pending } || row.OpensUnixMs > now.ToUnixTimeMilliseconds())
        {
            return;
        }
        var seed = LotteryDraw.NewSeed();
        var commitment = LotteryDraw.Commitment(seed);
        if (await _store.CommitSeedAsync(lottery, Convert.ToHexStringLower(seed), commitment, now.ToUnixTimeMilliseconds(), ct))
        {
            var firstSeenLate = now.ToUnixTimeMilliseconds() - row.OpensUnixMs > _options.CurrentValue.LateAfter.TotalMilliseconds;
            Log.Committed(_logger, lottery, commitment, firstSeenLate);
        }
    }

    /// <summary>
    /// Draws every lottery whose draw time has passed and returns the draws this instance made (another instance's
    /// draw, or one already made, is not returned). A draw well after its time is marked late.
    /// </summary>
    internal Task<IReadOnlyList<LotteryDrawResult>> DrawDueAsync(CancellationToken cancellationToken) =>
        DrawDueAsync(_time.GetUtcNow(), cancellationToken);

    /// <summary>
    /// Draws every lottery due by <paramref name="asOf"/>: the worker decides what is due and when it wakes next from
    /// one clock reading. Each draw records the time it is made.
    /// </summary>
    internal async Task<IReadOnlyList<LotteryDrawResult>> DrawDueAsync(DateTimeOffset asOf, CancellationToken cancellationToken)
    {
        var results = new List<LotteryDrawResult>();
        foreach (var row in await _store.ListAsync(cancellationToken))
        {
            if (row.State == LotteryState.Drawn || row.DrawsUnixMs > asOf.ToUnixTimeMilliseconds())
            {
                continue;
            }
            if (await DrawAsync(row, _time.GetUtcNow(), cancellationToken) is { } result)
            {
                results.Add(result);
            }
        }
        return results;
    }

    /// <summary>
    /// Draws one due lottery without looking at its state first, so only the store's conditional UPDATE decides who
    /// draws; null when it is not due or another instance drew it.
    /// </summary>
    internal async Task<LotteryDrawResult?> DrawIfDueAsync(string lottery, CancellationToken ct)
    {
        var now = _time.GetUtcNow();
        return await _store.FindAsync(lottery, ct) is { } row && row.DrawsUnixMs <= now.ToUnixTimeMilliseconds()
            ? await DrawAsync(row, now, ct)
            : null;
    }

    private async Task<LotteryDrawResult?> DrawAsync(LotteryRow row, DateTimeOffset now, CancellationToken ct)
    {
        // Never seen while open (the host was down all along): commit now, so the draw is still checkable.
        await CommitIfOpenedAsync(row.Name, now, ct);
        var options = _options.CurrentValue;
        var definition = row.Parse();
        var lateBy = now - definition.Draws;
        var late = lateBy > options.LateAfter;
        var won = await _store.DrawAsync(
            row.Name,
            now.ToUnixTimeMilliseconds(),
            late,
            (now + options.AnnounceLease).ToUnixTimeMilliseconds(),
            (seedHex, entrants) =>
            {
                var canonical = LotteryDraw.Canonical(entrants);
                var winners = LotteryDraw.PickWinners(Convert.FromHexString(seedHex), canonical, definition.Prizes);
                return (winners, canonical.Length, LotteryDraw.EntryListHash(canonical));
            },
            ct);
        if (!won)
        {
            return null;
        }
        var result = await BuildResultAsync(row.Name, ct);
        if (late)
        {
            Log.DrawnLate(_logger, row.Name, lateBy, result.Winners.Count, result.EntryCount, result.Seed, result.EntryListHash);
        }
        else
        {
            Log.Drawn(_logger, row.Name, result.Winners.Count, result.EntryCount, result.Seed, result.EntryListHash);
        }
        return result;
    }

    /// <summary>
    /// Draws whose announcing instance died before it finished (its lease ran out), claimed for this instance to
    /// deliver again.
    /// </summary>
    internal async Task<IReadOnlyList<LotteryDrawResult>> ClaimUnannouncedAsync(CancellationToken ct)
    {
        var now = _time.GetUtcNow();
        var results = new List<LotteryDrawResult>();
        foreach (var name in await _store.UnannouncedAsync(now.ToUnixTimeMilliseconds(), ct))
        {
            if (await _store.ClaimAnnouncementAsync(name, now.ToUnixTimeMilliseconds(), (now + _options.CurrentValue.AnnounceLease).ToUnixTimeMilliseconds(), ct))
            {
                Log.AnnouncingAgain(_logger, name);
                results.Add(await BuildResultAsync(name, ct));
            }
        }
        return results;
    }

    /// <summary>Display names of these customers as the announcement shows them; an id missing from the answer has none known.</summary>
    internal async Task<IReadOnlyDictionary<string, string>> NamesAsync(IReadOnlyCollection<string> externalUserIds, CancellationToken ct) =>
        externalUserIds.Count == 0 ? new Dictionary<string, string>() : await _names(externalUserIds, ct);

    internal Task MarkAnnouncedAsync(string lottery, CancellationToken ct) =>
        _store.MarkAnnouncedAsync(lottery, _time.GetUtcNow().ToUnixTimeMilliseconds(), ct);

    /// <summary>
    /// The earliest moment after <paramref name="asOf"/> a stored lottery opens or draws, or null when none is waiting.
    /// Compared in the same milliseconds as the due checks, so every time is either due by asOf or after it.
    /// </summary>
    internal async Task<DateTimeOffset?> NextDueAsync(DateTimeOffset asOf, CancellationToken ct)
    {
        var nowMs = asOf.ToUnixTimeMilliseconds();
        long? next = null;
        foreach (var row in await _store.ListAsync(ct))
        {
            if (row.State == LotteryState.Pending && row.OpensUnixMs > nowMs)
            {
                next = Math.Min(next ?? long.MaxValue, row.OpensUnixMs);
            }
            if (row.State != LotteryState.Drawn && row.DrawsUnixMs > nowMs)
            {
                next = Math.Min(next ?? long.MaxValue, row.DrawsUnixMs);
            }
        }
        return next is { } ms ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null;
    }

    private async Task<LotteryDrawResult> BuildResultAsync(string lottery, CancellationToken ct)
    {
        var row = await _store.FindAsync(lottery, ct) ?? throw new InvalidOperationException($"Lottery '{lottery}' vanished after its draw");
        var definition = row.Parse();
        var winners = await _store.WinnersAsync(lottery, ct);
        var drawnAt = DateTimeOffset.FromUnixTimeMilliseconds(row.DrawnUnixMs ?? throw new InvalidOperationException($"Lottery '{lottery}' is not drawn"));
        var late = row.Late ?? false;

        var names = winners.Count == 0
            ? new Dictionary<string, string>()
            : await _names([.. winners.Select(w => w.ExternalUserId)], ct);
        var text = RenderAnnouncement(definition, winners, names, late, drawnAt, _options.CurrentValue.LateNotice);
        var chats = (await _store.EntryChatIdsAsync(lottery, ct)).Order(StringComparer.Ordinal);

        return new LotteryDrawResult(
            lottery,
            drawnAt,
            late,
            winners,
            definition.TagWinners,
            [.. chats.Select(chat => new LotteryAnnouncement(chat, text))],
            row.Commitment ?? "",
            row.Seed ?? "",
            row.EntryListHash ?? "",
            row.EntryCount ?? 0);
    }

    internal static string RenderAnnouncement(
        LotteryDefinition definition,
        IReadOnlyList<LotteryWinner> winners,
        IReadOnlyDictionary<string, string> names,
        bool late,
        DateTimeOffset drawnAt,
        string lateNotice)
    {
        var winnerNames = string.Join("、", winners.Select(w =>
            names.TryGetValue(w.ExternalUserId, out var name) && !string.IsNullOrWhiteSpace(name) ? name : w.ExternalUserId));
        var text = definition.AnnounceTemplate
            .Replace("{{winners}}", winnerNames, StringComparison.Ordinal)
            .Replace("{{lottery.name}}", definition.Name, StringComparison.Ordinal);
        if (late)
        {
            // Local times in the offset the rule file wrote the draw time in, which is what members read it as.
            var offset = definition.Draws.Offset;
            text += lateNotice
                .Replace("{{draws}}", definition.Draws.ToString("yyyy-MM-dd HH:mm"), StringComparison.Ordinal)
                .Replace("{{drawn}}", drawnAt.ToOffset(offset).ToString("yyyy-MM-dd HH:mm"), StringComparison.Ordinal);
        }
        return text;
    }

    private static DateTimeOffset? FromUnixMs(long? ms) => ms is { } v ? DateTimeOffset.FromUnixTimeMilliseconds(v) : null;

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Lottery {Lottery} opened; seed commitment SHA-256 {Commitment} (first seen after its opening time: {FirstSeenLate})")]
        public static partial void Committed(ILogger logger, string lottery, string commitment, bool firstSeenLate);

        [LoggerMessage(2, LogLevel.Debug, "Lottery {Lottery} entered by {ExternalUserId} via {Source}")]
        public static partial void Entered(ILogger logger, string lottery, string externalUserId, string source);

        [LoggerMessage(3, LogLevel.Information, "Lottery {Lottery} drawn: {WinnerCount} winners from {EntryCount} entries; revealed seed {Seed}, entry list SHA-256 {EntryListHash}")]
        public static partial void Drawn(ILogger logger, string lottery, int winnerCount, int entryCount, string seed, string entryListHash);

        [LoggerMessage(4, LogLevel.Warning, "Lottery {Lottery} drawn late, {LateBy} after its draw time (the host was down or stalled): {WinnerCount} winners from {EntryCount} entries; revealed seed {Seed}, entry list SHA-256 {EntryListHash}")]
        public static partial void DrawnLate(ILogger logger, string lottery, TimeSpan lateBy, int winnerCount, int entryCount, string seed, string entryListHash);

        [LoggerMessage(5, LogLevel.Error, "Lottery definition refused: {Reason}")]
        public static partial void DefinitionRefused(ILogger logger, string reason);

        [LoggerMessage(6, LogLevel.Information, "Lottery {Lottery} was removed from the rules before it opened and is deleted")]
        public static partial void RemovedBeforeOpening(ILogger logger, string lottery);

        [LoggerMessage(7, LogLevel.Warning, "Lottery {Lottery} was removed from the rules after it opened; it stays stored and is still drawn")]
        public static partial void RemovedAfterOpening(ILogger logger, string lottery);

        [LoggerMessage(8, LogLevel.Warning, "Lottery {Lottery} was drawn but its announcement was not confirmed in time; delivering it again")]
        public static partial void AnnouncingAgain(ILogger logger, string lottery);
    }
}

/// <summary>Group-name globs as the rule file writes them: `*` any run of characters, `?` one character.</summary>
internal static class Glob
{
    public static bool Matches(string pattern, string text) => Matches(pattern.AsSpan(), text.AsSpan());

    private static bool Matches(ReadOnlySpan<char> pattern, ReadOnlySpan<char> text)
    {
        int p = 0, t = 0, star = -1, resume = 0;
        while (t < text.Length)
        {
            if (p < pattern.Length && (pattern[p] == '?' || pattern[p] == text[t]))
            {
                p++;
                t++;
            }
            else if (p < pattern.Length && pattern[p] == '*')
            {
                star = p++;
                resume = t;
            }
            else if (star >= 0)
            {
                p = star + 1;
                t = ++resume;
            }
            else
            {
                return false;
            }
        }
        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }
        return p == pattern.Length;
    }
}
