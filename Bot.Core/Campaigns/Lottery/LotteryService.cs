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
