using System.Collections.Frozen;
using Bot.Core.RateLimiting;

namespace Bot.Core.Outbox;

/// <summary>Claim order: a lower lane is always claimed first, so a flood of broadcasts never delays a welcome.</summary>
public enum OutboxLane
{
    /// <summary>Welcomes: the welcome_code is valid for 20 s only.</summary>
    Welcome = 0,

    /// <summary>Replies and tag changes.</summary>
    Interactive = 1,

    /// <summary>Group welcomes and lottery announcements.</summary>
    Group = 2,

    /// <summary>Broadcasts and seeding posts.</summary>
    Bulk = 3,
}

public enum OutboxState
{
    Pending,
    Sending,
    Sent,
    Failed,
    Expired,

    /// <summary>The call may or may not have been applied by WeCom; never resent automatically.</summary>
    Unknown,
}

/// <summary>
/// The kinds of outbound action as stored in the outbox's kind column. The strings are stored: never change one, or
/// rows already stored stop being read. What each kind is (lane, idempotency, budget) is declared by its action type
/// in <see cref="OutboundAction"/>'s closed set; <see cref="Find"/> looks a stored kind up.
/// </summary>
public static class OutboxKinds
{
    public const string Welcome = "welcome";
    public const string TagChange = "tag_change";
    public const string Reply = "reply";

    /// <summary>The confirmation of a customer's 退订/订阅: a reply that is sent even to an opted-out customer.</summary>
    public const string PreferenceReply = "preference_reply";
    public const string GroupWelcome = "group_welcome";
    public const string LotteryAnnouncement = "lottery_announcement";
    public const string SeedingPost = "seeding_post";
    public const string Broadcast = "broadcast";
    public const string GroupWelcomeTemplate = "group_welcome_template";

    /// <summary>send_welcome_msg accepts a welcome_code for 20 s after the event (FACTS 5.2).</summary>
    public static TimeSpan WelcomeDeadline => WelcomeMessage.CodeLifetime;

    private static readonly FrozenDictionary<string, OutboundKind> ByName = new[]
    {
        WelcomeMessage.Definition, Outbox.TagChange.Definition, ReplyMessage.Reply, ReplyMessage.PreferenceReply,
        GroupPost.GroupWelcome, GroupPost.LotteryAnnouncement, GroupPost.SeedingPost, BroadcastMessage.Definition,
        GroupWelcomeTemplateUpload.Definition,
    }.ToFrozenDictionary(k => k.Name, StringComparer.Ordinal);

    internal static IEnumerable<OutboundKind> All => ByName.Values;

    /// <summary>The kind stored as <paramref name="name"/>; null for a kind the outbox does not know.</summary>
    internal static OutboundKind? Find(string name) => ByName.GetValueOrDefault(name);

    /// <summary>Whether an item of <paramref name="name"/> is addressed to a customer group (its target is the chat id).</summary>
    internal static bool TargetsGroup(string name) => Find(name)?.TargetsGroup ?? false;
}

/// <summary>
/// One stored kind of outbound action: its claim lane and whether a second identical call cannot do harm (a resent
/// welcome is refused with 41051 and mark_tag converges; mass messages and webhook posts would repeat), and how the
/// contact budget and opt-out treat it. <see cref="Read"/> turns a stored row of the kind back into its action.
/// </summary>
internal sealed record OutboundKind(string Name, OutboxLane Lane, bool IsIdempotent, Func<OutboxItem, OutboundAction> Read)
{
    /// <summary>Its target is a customer group, whose contact budget it spends when the kind is budgeted.</summary>
    public bool TargetsGroup { get; init; }

    /// <summary>
    /// One item carries many recipients (a mass-message task), each admitted on its own and tracked in
    /// outbox_recipients; the item's own quota subject names only what the call itself spends.
    /// </summary>
    public bool CarriesRecipients { get; init; }

    /// <summary>A message the bot starts on its own, which spends the contact budget unless configured otherwise.</summary>
    public bool BudgetedByDefault { get; init; }

    /// <summary>False only for the confirmation of 退订/订阅, which answers the customer's own request.</summary>
    public bool HonoursOptOut { get; init; } = true;
}

/// <summary>Where an outbound action came from, kept for "explain".</summary>
public sealed record OutboxProvenance(
    string? CallbackId = null,
    string? RuleName = null,
    string? RuleFile = null,
    int? RuleLine = null,
    string? RuleSetVersion = null);

/// <summary>
/// One outbound action to store. The same <see cref="IdempotencyKey"/> enqueued twice is stored once.
/// <see cref="Lane"/> and <see cref="IsIdempotent"/> default from <see cref="Kind"/> (see <see cref="OutboxKinds.Find"/>).
/// </summary>
public sealed record OutboxRequest
{
    public required string Kind { get; init; }

    /// <summary>Who or what receives it: an external user id, a chat id, a member userid, a robot key name.</summary>
    public required string Target { get; init; }

    /// <summary>JSON the <see cref="IOutboxSender"/> turns into the API call for <see cref="Kind"/>.</summary>
    public required string Payload { get; init; }

    public required string IdempotencyKey { get; init; }

    public required QuotaSubject QuotaSubject { get; init; }

    /// <summary>The customer concerned, so operators can list a customer's actions.</summary>
    public string? ExternalUserId { get; init; }

    public OutboxLane? Lane { get; init; }

    public bool? IsIdempotent { get; init; }

    /// <summary>After this instant the action is pointless (a welcome code is dead) and is recorded as expired.</summary>
    public DateTimeOffset? Deadline { get; init; }

    /// <summary>Not sent before this instant (scheduled posts); now when null.</summary>
    public DateTimeOffset? NotBefore { get; init; }

    public OutboxProvenance? Provenance { get; init; }

    internal long? BroadcastId { get; init; }

    /// <summary>
    /// The one way code asks for an outbound action: its kind, target, payload, quota subject and deadline all come
    /// from <paramref name="action"/>, so a kind's rules live with its type and not at every call site.
    /// </summary>
    internal static OutboxRequest For(OutboundAction action, string idempotencyKey, OutboxProvenance? provenance = null) => new()
    {
        Kind = action.Kind.Name,
        Target = action.Target,
        ExternalUserId = action.ExternalUserId,
        Payload = action.ToPayload(),
        IdempotencyKey = idempotencyKey,
        QuotaSubject = action.QuotaSubject,
        Deadline = action.Deadline,
        Provenance = provenance,
    };
}

/// <summary>What <c>EnqueueAsync</c> did: stored a new item, or found the same idempotency key already stored.</summary>
public abstract record EnqueueResult(long Id)
{
    public sealed record Enqueued(long Id) : EnqueueResult(Id);

    public sealed record Duplicate(long Id) : EnqueueResult(Id);
}

/// <summary>A stored outbound action and where it stands.</summary>
public sealed record OutboxItem
{
    public required long Id { get; init; }
    public required string IdempotencyKey { get; init; }
    public required string Kind { get; init; }
    public required string Target { get; init; }
    public string? ExternalUserId { get; init; }
    public required string Payload { get; init; }
    public required OutboxLane Lane { get; init; }
    public required OutboxState State { get; init; }
    public required bool IsIdempotent { get; init; }
    public required QuotaSubject QuotaSubject { get; init; }
    public DateTimeOffset? Deadline { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
    public required DateTimeOffset NextAttemptAt { get; init; }
    public required int Attempts { get; init; }
    public int? LastErrcode { get; init; }
    public string? LastError { get; init; }
    public string? RemoteIds { get; init; }
    public DateTimeOffset? CompletedAt { get; init; }
    public long? BroadcastId { get; init; }
    public required OutboxProvenance Provenance { get; init; }

    /// <summary>
    /// When a call of this item was handed to WeCom with no answer recorded since (its dispatcher died in between). Such
    /// an item may have been applied: it is never expired "before sending" nor failed, it ends unknown unless a later
    /// call settles it.
    /// </summary>
    public DateTimeOffset? CallStartedAt { get; init; }

    /// <summary>The claim that owns this item while it is sending; completions are fenced on it.</summary>
    internal string? ClaimToken { get; init; }
}

/// <summary>How many items sit in one lane and state.</summary>
public sealed record OutboxDepth(OutboxLane Lane, OutboxState State, int Count);
