namespace Bot.Core.Rules;

/// <summary>
/// Compiles the sections that post into customer groups: <c>group_welcome</c> and <c>seeding</c>. Each method
/// returns the rule, or null once every problem in it is reported; channel advice is given only for a valid rule.
/// </summary>
internal sealed class GroupRuleCompiler(RuleReport report, RuleValues values, MessageCompiler messages, ChannelAdvice channels)
{
    public GroupWelcomeRule? GroupWelcome(Fields f, RuleSource? source)
    {
        var group = f.Mapping("when") is { } when ? values.Pattern(when.Scalar("group")) : null;
        var batchNode = f.Scalar("batch");
        var batch = values.Duration(batchNode) ?? TimeSpan.Zero;
        var messageFields = f.Mapping("message", required: true);
        var message = messages.Compile(messageFields, RuleFields.GroupWelcome);
        var channel = channels.Read(f, GroupChannel.Robot, allowTemplate: true);
        var fits = message is null || channel is null || messages.TextFits(messageFields, message, WeComTextLimits.ForGroupPost(channel.Channel));
        if (source is null || message is null || channel is null || !fits)
        {
            return null;
        }
        channels.GroupWelcome(channel, message, messageFields!, batchNode, batch);
        return new GroupWelcomeRule(source, group, batch, message, channel.Channel, channel.RobotKey, channel.Sender);
    }

    public SeedingRule? Seeding(Fields f, RuleSource? source)
    {
        var groups = values.GroupPatterns(f.Sequence("groups", required: true));
        var start = values.Start(f.Scalar("start", required: true));
        var quietNode = f.Scalar("quiet_hours");
        var quiet = values.Window(quietNode);
        var jitter = values.Duration(f.Scalar("jitter")) ?? TimeSpan.Zero;
        var postsNode = f.Node("posts");
        var posts = new List<SeedingPost>();
        var postTexts = new List<(YamlDotNet.RepresentationModel.YamlScalarNode Node, Template Text)>();
        var postsOk = true;
        var postMaps = f.Sequences("posts", required: true);
        if (postMaps is { Count: 0 })
        {
            report.Error(postsNode!, "empty post list: a seeding script needs at least one post");
            postsOk = false;
        }
        foreach (var post in postMaps ?? [])
        {
            var after = values.Duration(post.Scalar("after", required: true));
            var by = post.Scalar("by", required: true)?.Value;
            var textNode = post.Scalar("text", required: true);
            var text = values.Text(textNode, RuleFields.Seeding);
            if (after is null || by is null || text is null)
            {
                postsOk = false;
                continue;
            }
            posts.Add(new SeedingPost(after.Value, by, text, RuleReport.Line(post.Map.Start)));
            postTexts.Add((textNode!, text));
        }
        var channel = channels.Read(f, GroupChannel.MassMessage, allowTemplate: false);
        if (channel is not null)
        {
            foreach (var (node, text) in postTexts)
            {
                postsOk &= values.Fits(node, text, WeComTextLimits.ForGroupPost(channel.Channel), "text");
            }
        }
        if (source is null || groups is null || start is null || (quietNode is not null && quiet is null) || !postsOk || postMaps is null || channel is null)
        {
            return null;
        }
        channels.Seeding(channel, posts.Count, postsNode!);
        return new SeedingRule(source, groups, start, quiet, jitter, posts, channel.Channel, channel.RobotKey);
    }
}
