namespace Bot.Core.Campaigns.Lottery;

/// <summary>What to tell someone who tried to enter; the caller turns it into a short reply.</summary>
public enum LotteryEntryOutcome
{
    Entered,
    AlreadyEntered,
    NotEligible,
    NotOpenYet,
    Closed,
    UnknownLottery,
}

/// <summary>One awarded prize, in draw order.</summary>
public sealed record LotteryWinner(string Prize, string ExternalUserId);

/// <summary>The announcement for one group chat the lottery saw entries from.</summary>
public sealed record LotteryAnnouncement(string ChatId, string Text);

/// <summary>
/// A finished draw, handed to the <see cref="LotteryAnnouncer"/>. It may be delivered again after a crash (at least
/// once), so enqueue its messages under <see cref="DedupeKey"/>.
/// </summary>
public sealed record LotteryDrawResult(
    string Lottery,
    DateTimeOffset DrawnAt,
    bool Late,
    IReadOnlyList<LotteryWinner> Winners,
    string? TagWinners,
    IReadOnlyList<LotteryAnnouncement> Announcements,
    string Commitment,
    string Seed,
    string EntryListHash,
    int EntryCount)
{
    public string DedupeKey => $"lottery:{Lottery}:drawn";
}

/// <summary>
/// The public audit data of one lottery. The seed, entry list and winners are filled only once it has been drawn;
/// before that only the commitment (after opening) and the entry count are public.
/// </summary>
public sealed record LotteryAudit(
    string Name,
    string State,
    DateTimeOffset Opens,
    DateTimeOffset Draws,
    string DefinitionFingerprint,
    IReadOnlyList<LotteryPrize> Prizes,
    string? Commitment,
    DateTimeOffset? CommittedAt,
    int EntryCount,
    string? Seed,
    IReadOnlyList<string>? Entries,
    string? EntryListHash,
    IReadOnlyList<LotteryWinner>? Winners,
    DateTimeOffset? DrawnAt,
    bool? Late);

/// <summary>
/// Sends a finished draw's announcements and winner tags: <see cref="CampaignOutbound.AnnounceAsync"/>, bound by
/// <c>AddCampaigns</c>.
/// </summary>
public delegate Task LotteryAnnouncer(LotteryDrawResult result, CancellationToken cancellationToken);

/// <summary>
/// Looks up display names of winners for the announcement (<see cref="LotteryWinnerLookup.NamesAsync"/>, bound by
/// <c>AddLottery</c>); ids it does not return are shown as they are.
/// </summary>
public delegate Task<IReadOnlyDictionary<string, string>> LotteryWinnerNames(IReadOnlyCollection<string> externalUserIds, CancellationToken cancellationToken);

/// <summary>One lottery a customer entered: by a group keyword or through the admin endpoint (<paramref name="Source"/>).</summary>
public sealed record LotteryEntryRecord(string Lottery, string? ChatId, string Source, DateTimeOffset EnteredAt);

/// <summary>A lottery's announcement outlook: state (pending, open, drawn), draw time and the groups it would announce in.</summary>
internal sealed record LotteryAnnouncementPlan(string Lottery, string State, DateTimeOffset Draws, IReadOnlyList<string> ChatIds);
