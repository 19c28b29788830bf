using Bot.Core.WeCom;
using Bot.Core.WeCom.Callbacks;
using Microsoft.Extensions.Options;

namespace Bot.Core.Rules.Preview;

/// <summary>
/// What the rules would do with one callback, without I/O: names are stand-ins (the ids), groups have no names
/// unless the event carries them. Used by `rules simulate` and back-testing.
/// </summary>
public static class RulePreview
{
    public sealed record PreviewAction(string Action, string Rule, string File, int Line, object Detail);

    public static IReadOnlyList<PreviewAction> Plan(RuleSet ruleSet, CallbackEvent callbackEvent, DateTimeOffset at, string timeZone = "Asia/Shanghai") =>
        PlanActions(ruleSet, callbackEvent, at, timeZone).Select(Describe).ToList();

    internal static IReadOnlyList<PlannedAction> PlanActions(RuleSet ruleSet, CallbackEvent callbackEvent, DateTimeOffset at, string timeZone)
    {
        var planner = new RulePlanner(Options.Create(new RulesOptions { TimeZone = timeZone }));
        IReadOnlyList<PlannedAction> actions = callbackEvent switch
        {
            ExternalContactAdded a => planner.PlanContactAdded(ruleSet, new ContactAddedInput(a.UserId, a.ExternalUserId, a.State, a.WelcomeCode, a.ExternalUserId, a.UserId, at)),
            ExternalChatUpdated { UpdateDetail: ChatUpdateDetail.AddMember } u =>
                planner.PlanGroupJoin(ruleSet, new GroupJoinInput(u.ChatId, u.ChatId, u.MemChangeList.Where(WeComUserIds.IsExternal).ToList(), at)),
            _ when InboundMessage.From(callbackEvent) is { } m => PlanMessage(planner, ruleSet,
                new MessageInput(m.FromUserId, WeComUserIds.IsExternal(m.FromUserId) ? m.FromUserId : null, m.ChatId, null, m.Text, m.IsGroup, at)),
            _ => [],
        };
        return actions;
    }

    // The running bot enters lotteries by their stored definitions; a preview has only the candidate rules to go by.
    private static IReadOnlyList<PlannedAction> PlanMessage(RulePlanner planner, RuleSet ruleSet, MessageInput input) =>
        [.. planner.PlanMessage(ruleSet, input), .. RulePlanner.PlanLotteryEntries(ruleSet, input)];

    internal static PreviewAction Describe(PlannedAction action) => action switch
    {
        SendWelcome w => new("send_welcome_msg", w.Rule.Name, w.Rule.File, w.Rule.Line, new { welcomeCode = w.WelcomeCode, text = w.Text, attachments = w.Attachments.Count }),
        WelcomeSkipped s => new("welcome_skipped", s.Rule.Name, s.Rule.File, s.Rule.Line, new { reason = s.Reason }),
        AddTags t => new("mark_tag", t.Rule.Name, t.Rule.File, t.Rule.Line, new { externalUserId = t.ExternalUserId, tags = t.Tags }),
        Reply r => new("reply", r.Rule.Name, r.Rule.File, r.Rule.Line, new { to = r.ChatId ?? r.ToUserId, text = r.Text }),
        LotteryKeyword l => new("lottery_entry", l.Rule.Name, l.Rule.File, l.Rule.Line, new { lottery = l.LotteryName, externalUserId = l.ExternalUserId }),
        GroupWelcomeCandidate g => new("group_welcome", g.Rule.Name, g.Rule.File, g.Rule.Line, new { chatId = g.ChatId, members = g.Members, batchSeconds = g.Batch.TotalSeconds, channel = g.Channel.ToString() }),
        _ => new(action.GetType().Name, action.Rule.Name, action.Rule.File, action.Rule.Line, new { }),
    };
}
