namespace Bot.Core.Rules;

/// <summary>
/// Compiles the sections about one customer: <c>welcome</c>, <c>replies</c> and <c>tagging</c>. Each method
/// returns the rule, or null once every problem in it is reported.
/// </summary>
internal sealed class CustomerRuleCompiler(RuleReport report, RuleValues values, MessageCompiler messages, RuleLimits limits)
{
    private const string GroupJoinEvent = "group_join";

    public WelcomeRule? Welcome(Fields f, RuleSource? source)
    {
        Glob? state = null, guide = null;
        TimeWindow? between = null;
        if (f.Mapping("when") is { } when)
        {
            state = values.Pattern(when.Scalar("state"));
            guide = values.Pattern(when.Scalar("guide"));
            between = values.Window(when.Scalar("between"));
        }
        var messageFields = f.Mapping("message", required: true);
        var message = messages.Compile(messageFields, RuleFields.Welcome);
        var tags = values.Tags(f.Sequence("tags"));
        var fits = message is null || messages.TextFits(messageFields, message, WeComTextLimits.WelcomeText);
        return source is not null && message is not null && tags is not null && fits
            ? new WelcomeRule(source, state, between, guide, message, tags)
            : null;
    }

    public ReplyRule? Reply(Fields f, RuleSource? source)
    {
        var when = f.Mapping("when", required: true);
        var keywords = when is null ? null : values.Keywords(when.Sequence("keywords", required: true));
        var group = when is null ? null : values.Pattern(when.Scalar("group"));
        var messageFields = f.Mapping("message", required: true);
        var message = messages.Compile(messageFields, RuleFields.Replies);
        var fits = message is null || messages.TextFits(messageFields, message, limits.ReplyText);
        return source is not null && keywords is not null && message is not null && fits
            ? new ReplyRule(source, keywords, group, message)
            : null;
    }

    public TaggingRule? Tagging(Fields f, RuleSource? source)
    {
        var when = f.Mapping("when", required: true);
        var tagsNode = f.Sequence("tags", required: true);
        var tags = values.Tags(tagsNode);
        if (tags is { Count: 0 } && tagsNode is not null)
        {
            tags = report.Refuse<List<string>>(tagsNode, "empty tag list: a tagging rule needs at least one tag");
        }
        if (when is null)
        {
            return null;
        }
        var keywordsNode = when.Sequence("keywords");
        var eventNode = when.Scalar("event");
        var group = values.Pattern(when.Scalar("group"));
        IReadOnlyList<string>? keywords = [];
        TaggingTrigger trigger;
        if (eventNode is not null)
        {
            trigger = TaggingTrigger.GroupJoin;
            if (eventNode.Value != GroupJoinEvent)
            {
                keywords = report.Refuse<List<string>>(eventNode, $"unknown event '{eventNode.Value}' (allowed: {GroupJoinEvent})");
            }
            if (keywordsNode is not null)
            {
                keywords = report.Refuse<List<string>>(keywordsNode, "a tagging rule takes either when.keywords or when.event, not both");
            }
        }
        else if (keywordsNode is not null)
        {
            trigger = TaggingTrigger.Keywords;
            keywords = values.Keywords(keywordsNode);
        }
        else
        {
            if (!when.HasErrors)
            {
                report.Error(when.Map, "a tagging rule needs when.keywords or when.event");
            }
            return null;
        }
        return source is not null && keywords is not null && tags is not null
            ? new TaggingRule(source, trigger, keywords, group, tags)
            : null;
    }
}
