using Bot.Core.Campaigns.Lottery;
using Bot.Core.Contacts;
using Bot.Core.Groups;
using Bot.Core.Outbox;
using Bot.Core.Rules;
using Bot.Core.WeCom;
using Bot.Core.WeCom.Api;
using Bot.Core.WeCom.Callbacks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Bot.Core.Handling;

/// <summary>
/// A message to the app or a group robot: 退订/订阅 from a customer one to one, otherwise the keyword rules' replies,
/// tags and lottery entries.
/// </summary>
internal sealed partial class MessageHandler(
    RulePlanner planner,
    WeComDirectory directory,
    OutboxWriter outbox,
    CustomerGroupStore groups,
    LotteryService lotteries,
    ContactPreferenceStore preferences,
    IOptionsMonitor<ContactPreferencesOptions> preferenceOptions,
    ILogger<MessageHandler> logger)
{
    public async Task HandleAsync(RuleSet ruleSet, CallbackOrigin origin, InboundMessage message, CancellationToken ct)
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
                    requests.Add(origin.Tags(tags));
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

    private async Task ChangePreferenceAsync(CallbackOrigin origin, InboundMessage message, string externalUserId, bool optOut, CancellationToken ct)
    {
        await preferences.SetOptedOutAsync(externalUserId, optOut, origin.Item.ReceivedAt, origin.Item.Id, ct);
        Log.PreferenceChanged(logger, externalUserId, optOut);
        var options = preferenceOptions.CurrentValue;
        var confirmation = ReplyRequest(origin, message, optOut ? options.OptOutReply : options.OptInReply,
            $"preference:{origin.Item.DedupeKey}", origin.WithoutRule(), confirmsPreference: true);
        await EnqueueAsync([confirmation], ct);
    }

    private static OutboxRequest ReplyRequest(
        CallbackOrigin origin, InboundMessage message, string text, string key, OutboxProvenance provenance, bool confirmsPreference = false)
    {
        var viaRobot = message.ResponseUrl is not null;
        var reply = new ReplyMessage(
            message.ChatId ?? message.FromUserId,
            WeComUserIds.IsExternal(message.FromUserId) ? message.FromUserId : null,
            message.ResponseUrl,
            viaRobot ? null : message.FromUserId,
            text,
            origin.Item.ReceivedAt,
            confirmsPreference);
        return OutboxRequest.For(reply, key, provenance);
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

    private async Task EnqueueAsync(IReadOnlyList<OutboxRequest> requests, CancellationToken ct)
    {
        if (requests.Count > 0)
        {
            await outbox.EnqueueBatchAsync(requests, ct);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(4, LogLevel.Information, "Customer {ExternalUserId} opted out of bot messages: {OptedOut}")]
        public static partial void PreferenceChanged(ILogger logger, string externalUserId, bool optedOut);
    }
}
