using Microsoft.Extensions.Options;

namespace Bot.Core.Rules;

internal sealed record ContactAddedInput(
    string UserId, string ExternalUserId, string? State, string? WelcomeCode, string CustomerName, string GuideName, DateTimeOffset At);

/// <param name="CustomerName">For {{customer.name}} in replies, when the caller knows it.</param>
internal sealed record MessageInput(
    string FromUserId, string? ExternalUserId, string? ChatId, string? GroupName, string Text, bool IsGroup, DateTimeOffset At,
    string? CustomerName = null);

internal sealed record GroupJoinInput(string ChatId, string GroupName, IReadOnlyList<string> ExternalUserIds, DateTimeOffset At);

/// <summary>Something the rules ask for; the automation services carry it out. Every action names its rule.</summary>
internal abstract record PlannedAction(RuleRef Rule);

internal sealed record SendWelcome(string WelcomeCode, string Text, IReadOnlyList<Attachment> Attachments, RuleRef Rule) : PlannedAction(Rule);

internal sealed record WelcomeSkipped(string Reason, RuleRef Rule) : PlannedAction(Rule);

/// <param name="UserId">The guide whose customer gets the tags (mark_tag needs one); null when the event does not say
/// (keyword or group-join tagging), so the tag service resolves it from the customer's follow_user list.</param>
internal sealed record AddTags(string? UserId, string ExternalUserId, IReadOnlyList<string> Tags, RuleRef Rule) : PlannedAction(Rule);

/// <summary>A keyword reply: to the sender one to one, or into the group the message came from.</summary>
internal sealed record Reply(string ToUserId, string? ExternalUserId, string? ChatId, string Text, IReadOnlyList<Attachment> Attachments, RuleRef Rule)
    : PlannedAction(Rule);

internal sealed record LotteryKeyword(string LotteryName, string? ExternalUserId, string FromUserId, string? ChatId, DateTimeOffset At, RuleRef Rule)
    : PlannedAction(Rule);

/// <summary>
/// Joiners for a group welcome; the batching service collects candidates for <see cref="Batch"/>, then renders
/// <c>{{members}}</c> with <see cref="GroupWelcomeRule.Render"/> and posts through <see cref="Channel"/>.
/// </summary>
internal sealed record GroupWelcomeCandidate(
    string RuleName, string ChatId, string GroupName, IReadOnlyList<string> Members, TimeSpan Batch, GroupChannel Channel,
    GroupWelcomeRule Definition, RuleRef Rule) : PlannedAction(Rule);

/// <summary>Pure planning: a rule set and an input in, the actions the rules ask for out. No I/O, no clock.</summary>
internal sealed class RulePlanner(IOptions<RulesOptions> options)
{
    public const string NoWelcomeCodeReason =
        "no WelcomeCode in the event: WeCom omits it when the guide has a welcome message configured in the client, or the contact was added in a way that allows none";

    private readonly TimeZoneInfo _zone = TimeZoneInfo.FindSystemTimeZoneById(options.Value.TimeZone);

    public IReadOnlyList<PlannedAction> PlanContactAdded(RuleSet rules, ContactAddedInput input)
    {
        var local = TimeOnly.FromDateTime(TimeZoneInfo.ConvertTime(input.At, _zone).DateTime);
        foreach (var rule in rules.Welcome)
        {
            if (rule.State is { } state && !state.IsMatch(input.State)
                || rule.Guide is { } guide && !guide.IsMatch(input.UserId)
                || rule.Between is { } window && !window.Contains(local))
            {
                continue;
            }
            var reference = rules.Ref(rule.Source);
            var actions = new List<PlannedAction>(2);
            if (string.IsNullOrEmpty(input.WelcomeCode))
            {
                actions.Add(new WelcomeSkipped(NoWelcomeCodeReason, reference));
            }
            else
            {
                var message = rule.Message.Render([input.CustomerName, input.GuideName, input.State]);
                actions.Add(new SendWelcome(input.WelcomeCode, message.Text, message.Attachments, reference));
            }
            if (rule.Tags.Count > 0)
            {
                actions.Add(new AddTags(input.UserId, input.ExternalUserId, rule.Tags, reference));
            }
            return actions;
        }
        return [];
    }

    /// <summary>
    /// One automaton pass finds every keyword rule. The first matching reply rule answers (one reply per message);
    /// every matching tagging rule tags. Lottery keywords are not planned here: the lottery room matches the stored
    /// definitions, which stay in force when a reload edits an opened lottery.
    /// </summary>
    public IReadOnlyList<PlannedAction> PlanMessage(RuleSet rules, MessageInput input)
    {
        var hits = rules.Keywords.Match(input.Text);
        if (hits.Length == 0)
        {
            return [];
        }
        var actions = new List<PlannedAction>();
        var replied = false;
        foreach (var hit in hits)
        {
            var target = rules.KeywordTargets[hit];
            switch (target.Kind)
            {
                case KeywordRuleKind.Reply when !replied:
                    var reply = rules.Replies[target.Index];
                    if (reply.Group is { } group && !(input.IsGroup && group.IsMatch(input.GroupName)))
                    {
                        break;
                    }
                    var message = reply.Message.Render([input.CustomerName]);
                    actions.Add(new Reply(input.FromUserId, input.ExternalUserId, input.IsGroup ? input.ChatId : null,
                        message.Text, message.Attachments, rules.Ref(reply.Source)));
                    replied = true;
                    break;
                case KeywordRuleKind.Tagging:
                    var tagging = rules.Tagging[target.Index];
                    // Tags attach to a customer: without an external userid (a staff member's own message) there is no one to tag.
                    if (input.ExternalUserId is null
                        || tagging.Group is { } tagGroup && !(input.IsGroup && tagGroup.IsMatch(input.GroupName)))
                    {
                        break;
                    }
                    actions.Add(new AddTags(null, input.ExternalUserId, tagging.Tags, rules.Ref(tagging.Source)));
                    break;
            }
        }
        return actions;
    }

    /// <summary>
    /// The lotteries of this rule set the message would enter, for previewing a candidate rule set; the running bot asks
    /// the lottery room instead (see <see cref="PlanMessage"/>).
    /// </summary>
    public static IReadOnlyList<PlannedAction> PlanLotteryEntries(RuleSet rules, MessageInput input) =>
        [.. LotteryKeywords.Of(rules.Lotteries).Match(input.Text, input.IsGroup, input.GroupName, input.At).Select(i =>
            new LotteryKeyword(rules.Lotteries[i].Source.Name, input.ExternalUserId, input.FromUserId, input.ChatId, input.At,
                rules.Ref(rules.Lotteries[i].Source)))];

    public IReadOnlyList<PlannedAction> PlanGroupJoin(RuleSet rules, GroupJoinInput input)
    {
        var actions = new List<PlannedAction>();
        foreach (var rule in rules.Tagging)
        {
            if (rule.Trigger != TaggingTrigger.GroupJoin || rule.Group is { } group && !group.IsMatch(input.GroupName))
            {
                continue;
            }
            var reference = rules.Ref(rule.Source);
            actions.AddRange(input.ExternalUserIds.Select(id => new AddTags(null, id, rule.Tags, reference)));
        }
        foreach (var rule in rules.GroupWelcome)
        {
            if (rule.Group is { } group && !group.IsMatch(input.GroupName))
            {
                continue;
            }
            actions.Add(new GroupWelcomeCandidate(rule.Source.Name, input.ChatId, input.GroupName, input.ExternalUserIds, rule.Batch,
                rule.Channel, rule, rules.Ref(rule.Source)));
            break; // one greeting per join: the first matching group_welcome rule
        }
        return actions;
    }
}
