using Bot.Core.WeCom;
using Bot.Core.Contacts;
using Bot.Core.Groups;
using Bot.Core.Inbox;
using Bot.Core.Campaigns.Lottery;
using Bot.Core.Observability;
using Bot.Core.Outbox;
using Bot.Core.RateLimiting;
using Bot.Core.Rules;
using Bot.Core.Campaigns.Seeding;
using Bot.Core.WeCom.Api;
using Bot.Core.WeCom.Callbacks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ApiAttachment = Bot.Core.WeCom.Api.Attachment;

namespace Bot.Core.Handling;

/// <summary>
/// Handles a stored callback: parses it, asks the live rules what to do, and writes every resulting action to the
/// outbox under an idempotency key derived from the callback, so a replay after a crash or a WeCom retry stores
/// nothing twice. It sends nothing itself; the dispatcher does, within quota.
/// </summary>
internal sealed partial class CallbackHandler(
    RuleSetProvider rules,
    RulePlanner planner,
    WeComDirectory directory,
    OutboxWriter outbox,
    GroupWelcomeBatches batches,
    CustomerGroupStore groups,
    SeedingService seeding,
    LotteryService lotteries,
    ContactPreferenceStore preferences,
    IOptionsMonitor<ContactPreferencesOptions> preferenceOptions,
    IOptions<HandlingOptions> handlingOptions,
    TimeProvider time,
    ILogger<CallbackHandler> logger) : ICallbackHandler
{
    public async Task HandleAsync(StoredCallback item, CancellationToken ct)
    {
        var parsed = Parse(item);
        var ruleSet = rules.Current;
        using var activity = BotMetrics.ActivitySource.StartActivity("callback.handle");
        activity?.SetTag("callback.kind", item.Kind);
        activity?.SetTag("rules.version", ruleSet.Version);
        using var scope = logger.BeginScope(new Dictionary<string, object> { ["CallbackId"] = item.Id, ["CallbackKind"] = item.Kind });
        var origin = new Origin(item, ruleSet.Version);
        switch (parsed.Event)
        {
            case ExternalContactAdded added:
                await ContactAddedAsync(ruleSet, origin, added.UserId, added.ExternalUserId, added.State, added.WelcomeCode, ct);
                break;
            case ExternalContactHalfAdded half when !string.IsNullOrEmpty(half.WelcomeCode):
                await ContactAddedAsync(ruleSet, origin, half.UserId, half.ExternalUserId, half.State, half.WelcomeCode, ct);
                break;
            case AppTextMessage or RobotMessage:
                if (InboundMessage.From(parsed.Event) is { } message)
                {
                    await MessageAsync(ruleSet, origin, message, ct);
                }
                break;
            case ExternalChatCreated created:
                var chat = await directory.GetGroupAsync(created.ChatId, ct);
                await groups.UpsertAsync(created.ChatId, chat.Name, chat.Owner, ct);
                await seeding.OnGroupCreatedAsync(created.ChatId, chat.Name, created.CreateTime, ct);
                break;
            case ExternalChatUpdated updated:
                await ChatUpdatedAsync(ruleSet, origin, updated, ct);
                break;
            case ExternalChatDismissed dismissed:
                await groups.MarkDismissedAsync(dismissed.ChatId, ct);
                await seeding.OnGroupDismissedAsync(dismissed.ChatId, ct);
                directory.ForgetGroup(dismissed.ChatId);
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
    public string OrderingKey(StoredCallback item)
    {
        CallbackEvent callback;
        try
        {
            callback = Parse(item).Event;
        }
        catch (Exception ex) when (ex is FormatException or System.Xml.XmlException)
        {
            // HandleAsync fails on it too and records the failure; any lane will do.
            return "";
        }
        return callback switch
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
    }

    /// <summary>
    /// A contact-add's welcome_code is usable for 20 s after the callback (FACTS §5.2), so its handling must not sit
    /// behind the lease of an instance that died. Kinds as <see cref="CallbackParser"/> names them: event/change type.
    /// </summary>
    public IReadOnlyDictionary<string, TimeSpan> Deadlines { get; } = new Dictionary<string, TimeSpan>
    {
        [$"{WeComEventNames.ChangeExternalContact}/{ExternalContactChange.Add}"] = OutboxKinds.WelcomeDeadline,
        [$"{WeComEventNames.ChangeExternalContact}/{ExternalContactChange.AddHalf}"] = OutboxKinds.WelcomeDeadline,
    };

    private static ParsedCallback Parse(StoredCallback item) =>
        item.Kind.StartsWith("robot/", StringComparison.Ordinal)
            ? RobotCallbackParser.Parse(item.Body, item.ReceivedAt)
            : CallbackParser.Parse(item.Body);

    private async Task ContactAddedAsync(RuleSet ruleSet, Origin origin, string userId, string externalUserId, string? state, string? welcomeCode, CancellationToken ct)
    {
        // Both lookups share one budget, so a slow or busy directory delays the welcome by at most that much.
        using var budget = new CancellationTokenSource(handlingOptions.Value.WelcomeLookupBudget, time);
        using var lookup = CancellationTokenSource.CreateLinkedTokenSource(ct, budget.Token);
        var customerLookup = NameOrEmptyAsync(() => directory.GetCustomerAsync(externalUserId, lookup.Token), c => c.Contact.Name, ct);
        var guideLookup = NameOrEmptyAsync(() => directory.GetGuideNameAsync(userId, lookup.Token), n => n, ct);
        var customerName = await customerLookup;
        var guideName = await guideLookup;
        var actions = planner.PlanContactAdded(ruleSet, new ContactAddedInput(userId, externalUserId, state, welcomeCode, customerName, guideName, origin.Item.ReceivedAt));
        var requests = new List<OutboxRequest>();
        foreach (var action in actions)
        {
            switch (action)
            {
                case SendWelcome welcome:
                    var payload = new WelcomePayload(new SendWelcomeRequest
                    {
                        WelcomeCode = welcome.WelcomeCode,
                        Text = new MessageText(welcome.Text),
                        Attachments = welcome.Attachments.Count == 0 ? null : welcome.Attachments.Select(ToApi).ToList(),
                    }, state, userId);
                    requests.Add(new OutboxRequest
                    {
                        Kind = OutboxKinds.Welcome,
                        Target = externalUserId,
                        ExternalUserId = externalUserId,
                        Payload = OutboundPayloads.Serialize(payload),
                        // A welcome code is single-use, so it names the welcome across retries and instances.
                        IdempotencyKey = $"welcome:{welcome.WelcomeCode}",
                        QuotaSubject = new QuotaSubject("externalcontact/send_welcome_msg", Sender: userId, ExternalUserIds: [externalUserId]),
                        Deadline = origin.Item.ReceivedAt + OutboxKinds.WelcomeDeadline,
                        Provenance = origin.For(welcome.Rule),
                    });
                    break;
                case WelcomeSkipped skipped:
                    Log.WelcomeSkipped(logger, externalUserId, skipped.Rule.Name, skipped.Reason);
                    break;
                case AddTags tags:
                    requests.Add(TagRequest(origin, tags));
                    break;
            }
        }
        await EnqueueAsync(requests, ct);
    }

    private async Task MessageAsync(RuleSet ruleSet, Origin origin, InboundMessage message, CancellationToken ct)
    {
        string? groupName = null;
        if (message.ChatId is { } chatId && message.IsGroup)
        {
            groupName = (await groups.GetAsync(chatId, ct))?.Name;
        }
        var externalUserId = WeComUserIds.IsExternal(message.FromUserId) ? message.FromUserId : null;
        if (externalUserId is not null && !message.IsGroup && PreferenceKeyword(message.Text) is { } optOut)
        {
            await ChangePreferenceAsync(origin, message, externalUserId, optOut, ct);
            return;
        }
        var actions = planner.PlanMessage(ruleSet, new MessageInput(
            message.FromUserId, externalUserId, message.ChatId, groupName, message.Text, message.IsGroup, origin.Item.ReceivedAt));
        var requests = new List<OutboxRequest>();
        var index = 0;
        foreach (var action in actions)
        {
            switch (action)
            {
                case Reply reply:
                    requests.Add(ReplyRequest(origin, message, reply.Text, $"reply:{origin.Item.DedupeKey}:{index++}", origin.For(reply.Rule)));
                    break;
                case AddTags tags:
                    requests.Add(TagRequest(origin, tags));
                    break;
            }
        }
        // The lottery room decides by the stored definitions: a reload that edits an opened lottery's keyword is refused.
        if (externalUserId is not null && message.IsGroup)
        {
            foreach (var lottery in await lotteries.MatchKeywordAsync(message.Text, groupName, origin.Item.ReceivedAt, ct))
            {
                // One removed from the rules after it opened is still drawn, but no longer entered by keyword.
                if (ruleSet.Lotteries.FirstOrDefault(l => l.Source.Name == lottery) is not { } rule)
                {
                    continue;
                }
                var customerTags = await CustomerTagsAsync(externalUserId, ct);
                var outcome = await lotteries.EnterAsync(lottery, externalUserId, message.ChatId, customerTags, "keyword", ct);
                requests.Add(ReplyRequest(origin, message, LotteryReplies.For(outcome, lottery), $"lottery-reply:{origin.Item.DedupeKey}",
                    origin.For(ruleSet.Ref(rule.Source))));
            }
        }
        await EnqueueAsync(requests, ct);
    }

    // Only one to one: in a group "退订" may be about anything, and the confirmation would go to the whole group.
    private bool? PreferenceKeyword(string? text)
    {
        var options = preferenceOptions.CurrentValue;
        var word = text?.Trim();
        return word == options.OptOutKeyword ? true : word == options.OptInKeyword ? false : null;
    }

    private async Task ChangePreferenceAsync(Origin origin, InboundMessage message, string externalUserId, bool optOut, CancellationToken ct)
    {
        await preferences.SetOptedOutAsync(externalUserId, optOut, origin.Item.ReceivedAt, origin.Item.Id, ct);
        Log.PreferenceChanged(logger, externalUserId, optOut);
        var options = preferenceOptions.CurrentValue;
        var confirmation = ReplyRequest(origin, message, optOut ? options.OptOutReply : options.OptInReply,
            $"preference:{origin.Item.DedupeKey}",
            new OutboxProvenance(origin.Item.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), RuleSetVersion: origin.RuleSetVersion));
        await EnqueueAsync([confirmation with { Kind = OutboxKinds.PreferenceReply }], ct);
    }

    private async Task ChatUpdatedAsync(RuleSet ruleSet, Origin origin, ExternalChatUpdated updated, CancellationToken ct)
    {
        directory.ForgetGroup(updated.ChatId);
        if (updated.UpdateDetail == ChatUpdateDetail.DeleteMember)
        {
            await seeding.OnMembersLeftAsync(updated.ChatId, updated.MemChangeList, ct);
            return;
        }
        var chat = await directory.GetGroupAsync(updated.ChatId, ct);
        await groups.UpsertAsync(updated.ChatId, chat.Name, chat.Owner, ct);
        if (updated.UpdateDetail != ChatUpdateDetail.AddMember)
        {
            return;
        }
        // MemChangeList has arrived empty in some tenants (LESSONS #9): fall back to the newest joiners in the list.
        var joiners = updated.MemChangeList.Count > 0
            ? updated.MemChangeList
            : chat.Members.OrderByDescending(m => m.JoinTime).Take(updated.MemChangeCnt ?? 0).Select(m => m.UserId).ToList();
        var customers = joiners.Where(WeComUserIds.IsExternal).ToList();
        if (customers.Count == 0)
        {
            return;
        }
        var actions = planner.PlanGroupJoin(ruleSet, new GroupJoinInput(updated.ChatId, chat.Name ?? "", customers, origin.Item.ReceivedAt));
        var requests = new List<OutboxRequest>();
        foreach (var action in actions)
        {
            switch (action)
            {
                case AddTags tags:
                    requests.Add(TagRequest(origin, tags));
                    break;
                case GroupWelcomeCandidate candidate when candidate.Channel != GroupChannel.WelcomeTemplate:
                    var (batchKey, windowEnd) = await batches.AddAsync(candidate.RuleName, candidate.ChatId, candidate.Members, origin.Item.ReceivedAt, candidate.Batch, ct);
                    var rendered = candidate.Definition.Render(GroupPostPayload.MembersPlaceholder, chat.Name ?? "");
                    var channel = candidate.Channel == GroupChannel.Robot ? GroupPostChannels.Robot : GroupPostChannels.MassMessage;
                    requests.Add(new OutboxRequest
                    {
                        Kind = OutboxKinds.GroupWelcome,
                        Target = candidate.ChatId,
                        Payload = OutboundPayloads.Serialize(new GroupPostPayload(channel, candidate.ChatId, rendered.Text,
                            candidate.Definition.RobotKey, candidate.Definition.Sender ?? chat.Owner, batchKey)),
                        IdempotencyKey = batchKey,
                        QuotaSubject = GroupPostSubject(channel, candidate.ChatId, candidate.Definition.RobotKey, candidate.Definition.Sender ?? chat.Owner),
                        NotBefore = windowEnd,
                        Provenance = origin.For(candidate.Rule),
                    });
                    break;
            }
        }
        await EnqueueAsync(requests, ct);
    }

    internal static QuotaSubject GroupPostSubject(string channel, string chatId, string? robotKey, string? sender) =>
        channel == GroupPostChannels.Robot
            ? new QuotaSubject(QuotaRules.WebhookSend, RobotKey: robotKey)
            : new QuotaSubject(QuotaRules.AddMsgTemplate, Sender: sender, ChatIds: [chatId]);

    private static OutboxRequest TagRequest(Origin origin, AddTags tags) => new()
    {
        Kind = OutboxKinds.TagChange,
        Target = tags.ExternalUserId,
        ExternalUserId = tags.ExternalUserId,
        Payload = OutboundPayloads.Serialize(new TagChangePayload(tags.UserId, tags.ExternalUserId, tags.Tags)),
        IdempotencyKey = $"tags:{origin.Item.DedupeKey}:{tags.Rule.Name}:{tags.ExternalUserId}",
        QuotaSubject = new QuotaSubject(QuotaRules.MarkTag, Sender: tags.UserId, ExternalUserIds: [tags.ExternalUserId]),
        Provenance = origin.For(tags.Rule),
    };

    private static OutboxRequest ReplyRequest(Origin origin, InboundMessage message, string text, string key, OutboxProvenance provenance)
    {
        var viaRobot = message.ResponseUrl is not null;
        return new OutboxRequest
        {
            Kind = OutboxKinds.Reply,
            Target = message.ChatId ?? message.FromUserId,
            ExternalUserId = WeComUserIds.IsExternal(message.FromUserId) ? message.FromUserId : null,
            Payload = OutboundPayloads.Serialize(new ReplyPayload(message.ResponseUrl, viaRobot ? null : message.FromUserId, text)),
            IdempotencyKey = key,
            QuotaSubject = viaRobot
                ? new QuotaSubject("aibot/response")
                : new QuotaSubject(QuotaRules.MessageSend, AppRecipient: message.FromUserId),
            // A robot's response_url is usable for one hour (FACTS §4.2).
            Deadline = viaRobot ? origin.Item.ReceivedAt + TimeSpan.FromHours(1) : null,
            Provenance = provenance,
        };
    }

    private async Task<IReadOnlyCollection<string>> CustomerTagsAsync(string externalUserId, CancellationToken ct)
    {
        try
        {
            return await directory.GetCustomerTagNamesAsync(externalUserId, ct);
        }
        catch (WeComApiException ex) when (ex.Class == WeComErrorClass.Permanent)
        {
            return [];
        }
    }

    private async Task<string> NameOrEmptyAsync<T>(Func<Task<T>> lookup, Func<T, string> name, CancellationToken ct)
    {
        // A welcome without a name beats no welcome: the code dies in 20 s, and a failed handler would be retried
        // only after it has. So every failure of the lookup, transient ones included, falls back to no name.
        try
        {
            return name(await lookup());
        }
        catch (WeComApiException ex)
        {
            Log.NameUnavailable(logger, ex.Api, ex.ErrCode);
            return "";
        }
        catch (WeComOutcomeUnknownException ex)
        {
            Log.NameUnavailable(logger, ex.Api, WeComErrorCodes.HttpFailure);
            return "";
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            Log.NameLookupOverBudget(logger, handlingOptions.Value.WelcomeLookupBudget.TotalMilliseconds);
            return "";
        }
    }

    private async Task EnqueueAsync(IReadOnlyList<OutboxRequest> requests, CancellationToken ct)
    {
        if (requests.Count > 0)
        {
            await outbox.EnqueueBatchAsync(requests, ct);
        }
    }


    internal static ApiAttachment ToApi(Bot.Core.Rules.Attachment attachment) => attachment switch
    {
        Bot.Core.Rules.ImageAttachment a => ApiAttachment.ForImage(new WeCom.Api.ImageAttachment { MediaId = a.MediaId, PicUrl = a.PicUrl }),
        Bot.Core.Rules.LinkAttachment a => ApiAttachment.ForLink(new WeCom.Api.LinkAttachment { Title = a.Title, Url = a.Url, PicUrl = a.PicUrl, Desc = a.Desc }),
        Bot.Core.Rules.MiniProgramAttachment a => ApiAttachment.ForMiniProgram(new WeCom.Api.MiniProgramAttachment { Title = a.Title, PicMediaId = a.PicMediaId, AppId = a.AppId, Page = a.Page }),
        Bot.Core.Rules.VideoAttachment a => ApiAttachment.ForVideo(a.MediaId),
        Bot.Core.Rules.FileAttachment a => ApiAttachment.ForFile(a.MediaId),
        _ => throw new ArgumentOutOfRangeException(nameof(attachment)),
    };

    private sealed record Origin(StoredCallback Item, string RuleSetVersion)
    {
        public OutboxProvenance For(RuleRef rule) =>
            new(Item.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), rule.Name, rule.File, rule.Line, rule.RuleSetVersion);
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "No welcome for {ExternalUserId} (rule {Rule}): {Reason}")]
        public static partial void WelcomeSkipped(ILogger logger, string externalUserId, string rule, string reason);

        [LoggerMessage(2, LogLevel.Debug, "Callback kind {Kind} needs no action")]
        public static partial void NothingToDo(ILogger logger, string kind);

        [LoggerMessage(3, LogLevel.Warning, "A name for the welcome could not be fetched ({Api} errcode {ErrCode}); the template gets an empty name")]
        public static partial void NameUnavailable(ILogger logger, string api, int errCode);

        [LoggerMessage(4, LogLevel.Information, "Customer {ExternalUserId} opted out of bot messages: {OptedOut}")]
        public static partial void PreferenceChanged(ILogger logger, string externalUserId, bool optedOut);

        [LoggerMessage(5, LogLevel.Warning, "A name for the welcome took longer than its {BudgetMs} ms budget; the template gets an empty name")]
        public static partial void NameLookupOverBudget(ILogger logger, double budgetMs);
    }
}

/// <summary>The short confirmations a lottery entrant gets.</summary>
internal static class LotteryReplies
{
    public static string For(LotteryEntryOutcome outcome, string lottery) => outcome switch
    {
        LotteryEntryOutcome.Entered => $"已参加「{lottery}」抽奖，开奖时在群里公布，祝好运！",
        LotteryEntryOutcome.AlreadyEntered => $"您已参加过「{lottery}」抽奖啦，每人一次，请等待开奖。",
        LotteryEntryOutcome.NotEligible => $"抱歉，「{lottery}」抽奖仅限指定客户参加。",
        LotteryEntryOutcome.NotOpenYet => $"「{lottery}」抽奖还未开始，敬请期待。",
        LotteryEntryOutcome.Closed => $"「{lottery}」抽奖已截止。",
        _ => "没有找到这个抽奖。",
    };
}
