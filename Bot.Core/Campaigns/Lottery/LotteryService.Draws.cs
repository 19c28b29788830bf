using Bot.Core.Rules;
using Microsoft.Extensions.Logging;

namespace Bot.Core.Campaigns.Lottery;

// The draw side: drawing due lotteries once across instances, claiming announcements a dead instance left, and the text.
public sealed partial class LotteryService
{
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
        // The stored source was compiled when the rules loaded; parsing it again with the same variables renders it as
        // the rule file's other templates are.
        var announce = Template.Parse(definition.AnnounceTemplate, RuleFields.TemplateVariables[RuleFields.Lotteries], urlEncode: false, problems: []);
        var text = announce.Render([winnerNames, definition.Name]); // slots: LotteryRule.Winners, LotteryRule.LotteryName
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
}
