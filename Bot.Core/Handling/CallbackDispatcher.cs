using System.Runtime.ExceptionServices;
using Bot.Core.Contacts;
using Bot.Core.Observability;
using Bot.Core.Outbox;
using Bot.Core.Rules;
using Bot.Core.WeCom.Api;
using Bot.Core.WeCom.Callbacks;
using Microsoft.Extensions.Logging;

namespace Bot.Core.Handling;

/// <summary>
/// Handles a stored callback: parses it once into its event (which also gives its ordering key), then hands it to the
/// handler of its family with the live rules. The handlers write every resulting action to the outbox under an
/// idempotency key derived from the callback, so a replay after a crash or a WeCom retry stores nothing twice; nothing
/// is sent here, the dispatcher does that within quota.
/// </summary>
internal sealed partial class CallbackDispatcher(
    RuleSetProvider rules,
    ContactAddedHandler contactAdded,
    MessageHandler messages,
    GroupEventsHandler groupEvents,
    WeComDirectory directory,
    CustomerLedger ledger,
    ILogger<CallbackDispatcher> logger) : ICallbackHandler
{
    /// <summary>A callback as parsed by <see cref="Prepare"/>: its event, or why its body could not be read.</summary>
    private sealed record Parsed(StoredCallback Item, string OrderingKey, CallbackEvent? Event, ExceptionDispatchInfo? Failure)
        : PreparedCallback(Item, OrderingKey);

    public PreparedCallback Prepare(StoredCallback item)
    {
        try
        {
            var callback = Parse(item).Event;
            return new Parsed(item, OrderingKey(callback), callback, null);
        }
        catch (Exception ex)
        {
            // HandleAsync throws it again, so the failure is recorded against the callback; any lane will do.
            return new Parsed(item, "", null, ExceptionDispatchInfo.Capture(ex));
        }
    }

    public async Task HandleAsync(PreparedCallback callback, CancellationToken ct)
    {
        var parsed = callback as Parsed ?? (Parsed)Prepare(callback.Item);
        parsed.Failure?.Throw();
        var item = parsed.Item;
        var ruleSet = rules.Current;
        using var activity = BotMetrics.ActivitySource.StartActivity("callback.handle");
        activity?.SetTag("callback.kind", item.Kind);
        activity?.SetTag("rules.version", ruleSet.Version);
        using var scope = logger.BeginScope(new Dictionary<string, object> { ["CallbackId"] = item.Id, ["CallbackKind"] = item.Kind });
        var origin = new CallbackOrigin(item, ruleSet.Version);
        switch (parsed.Event)
        {
            case ExternalContactAdded added:
                await contactAdded.HandleAsync(ruleSet, origin, added.UserId, added.ExternalUserId, added.State, added.WelcomeCode, ct);
                // After the welcome is queued, so the ledger never spends the welcome code's 20 s. A half-added
                // contact is not recorded: until the guide confirms, WeCom cannot deliver the guide's tasks to them.
                await ledger.RecordFollowAsync(added.ExternalUserId, added.UserId, added.CreateTime, ct);
                break;
            case ExternalContactDeletedByGuide deleted:
                await ledger.RecordUnfollowAsync(deleted.ExternalUserId, deleted.UserId, deleted.CreateTime, ct);
                break;
            case GuideDeletedByCustomer deleted:
                // The guide may still list the customer, but WeCom delivers nothing from that guide to them any more.
                await ledger.RecordUnfollowAsync(deleted.ExternalUserId, deleted.UserId, deleted.CreateTime, ct);
                break;
            case ExternalContactHalfAdded half when !string.IsNullOrEmpty(half.WelcomeCode):
                await contactAdded.HandleAsync(ruleSet, origin, half.UserId, half.ExternalUserId, half.State, half.WelcomeCode, ct);
                break;
            case AppTextMessage or RobotMessage:
                if (InboundMessage.From(parsed.Event) is { } message)
                {
                    await messages.HandleAsync(ruleSet, origin, message, ct);
                }
                break;
            case ExternalChatCreated created:
                await groupEvents.CreatedAsync(created, ct);
                break;
            case ExternalChatUpdated updated:
                await groupEvents.UpdatedAsync(ruleSet, origin, updated, ct);
                break;
            case ExternalChatDismissed dismissed:
                await groupEvents.DismissedAsync(dismissed, ct);
                break;
            case ExternalTagChanged:
                directory.ForgetTags();
                break;
            default:
                Log.NothingToDo(logger, item.Kind);
                break;
        }
    }

    /// <summary>
    /// A customer's callbacks (added, edited, deleted) stay in order, and so do a group's (created, updated, its
    /// messages, dismissed) and a staff member's messages; different customers and groups are handled side by side.
    /// </summary>
    private static string OrderingKey(CallbackEvent callback) => callback switch
    {
        ExternalContactAdded e => "customer:" + e.ExternalUserId,
        ExternalContactHalfAdded e => "customer:" + e.ExternalUserId,
        ExternalContactEdited e => "customer:" + e.ExternalUserId,
        ExternalContactDeletedByGuide e => "customer:" + e.ExternalUserId,
        GuideDeletedByCustomer e => "customer:" + e.ExternalUserId,
        ExternalContactTransferFailed e => "customer:" + e.ExternalUserId,
        ExternalChatCreated e => "chat:" + e.ChatId,
        ExternalChatUpdated e => "chat:" + e.ChatId,
        ExternalChatDismissed e => "chat:" + e.ChatId,
        RobotMessage { ChatId: { Length: > 0 } chatId } => "chat:" + chatId,
        RobotMessage e => "user:" + e.FromUserId,
        AppTextMessage e => "user:" + e.FromUserName,
        _ => "",
    };

    /// <summary>
    /// A contact-add's welcome_code is usable for 20 s after the callback (FACTS §5.2), so its handling must not sit
    /// behind the lease of an instance that died. Kinds as <see cref="CallbackParser"/> names them: event/change type.
    /// </summary>
    public IReadOnlyDictionary<string, TimeSpan> Deadlines { get; } = new Dictionary<string, TimeSpan>
    {
        [$"{WeComEventNames.ChangeExternalContact}/{ExternalContactChange.Add}"] = WelcomeMessage.CodeLifetime,
        [$"{WeComEventNames.ChangeExternalContact}/{ExternalContactChange.AddHalf}"] = WelcomeMessage.CodeLifetime,
    };

    private static ParsedCallback Parse(StoredCallback item) =>
        item.Kind.StartsWith("robot/", StringComparison.Ordinal)
            ? RobotCallbackParser.Parse(item.Body, item.ReceivedAt)
            : CallbackParser.Parse(item.Body);

    private static partial class Log
    {
        [LoggerMessage(2, LogLevel.Debug, "Callback kind {Kind} needs no action")]
        public static partial void NothingToDo(ILogger logger, string kind);
    }
}
