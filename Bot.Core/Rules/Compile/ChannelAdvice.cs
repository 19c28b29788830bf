using YamlDotNet.RepresentationModel;

namespace Bot.Core.Rules;

/// <summary>
/// The channel a group post goes by, with the robot key and sender it needs; <paramref name="At"/> is where
/// advice about it is shown (the channel field, or the rule when the channel is the default).
/// </summary>
internal sealed record PostChannel(GroupChannel Channel, string? RobotKey, string? Sender, YamlNode At);

/// <summary>
/// Reads the channel of a group post (group welcome, lottery announcement, seeding post) and warns about what
/// WeCom does with it that the rule's author may not expect. Warnings never stop a rule from loading.
/// </summary>
internal sealed class ChannelAdvice(RuleReport report)
{
    /// <summary>The channel, or null after an error when the field names none this section allows.</summary>
    public PostChannel? Read(Fields f, GroupChannel fallback, bool allowTemplate)
    {
        var node = f.Scalar("channel");
        var robotKey = f.Scalar("robot_key")?.Value;
        var sender = f.Declares("sender") ? f.Scalar("sender")?.Value : null;
        if (node is null)
        {
            return f.IsBad("channel") ? null : new PostChannel(fallback, robotKey, sender, f.Map);
        }
        GroupChannel? channel = node.Value switch
        {
            GroupChannelNames.Robot => GroupChannel.Robot,
            GroupChannelNames.MassMessage => GroupChannel.MassMessage,
            GroupChannelNames.WelcomeTemplate when allowTemplate => GroupChannel.WelcomeTemplate,
            _ => null,
        };
        if (channel is null)
        {
            var allowed = allowTemplate
                ? $"{GroupChannelNames.Robot}, {GroupChannelNames.WelcomeTemplate}, {GroupChannelNames.MassMessage}"
                : $"{GroupChannelNames.Robot}, {GroupChannelNames.MassMessage}";
            return report.Refuse<PostChannel>(node, $"unknown channel '{node.Value}' for {f.Shape.Name} (allowed: {allowed})");
        }
        return new PostChannel(channel.Value, robotKey, sender, node);
    }

    public void GroupWelcome(PostChannel c, MessageTemplate message, Fields messageFields, YamlScalarNode? batchNode, TimeSpan batch)
    {
        Robot(c, message, messageFields);
        switch (c.Channel)
        {
            case GroupChannel.WelcomeTemplate:
                if (message.Text.Uses(GroupWelcomeRule.Members))
                {
                    report.Warn(messageFields.Node("text")!, "channel welcome_template: WeCom sends the template itself and fills in only %NICKNAME%, so {{members}} cannot be rendered");
                }
                if (batchNode is not null && batch > TimeSpan.Zero)
                {
                    report.Warn(batchNode, "channel welcome_template: batch has no effect, WeCom merges quick successive joiners itself");
                }
                if (message.Attachments.Count > 1)
                {
                    report.Warn(messageFields.Node("attachments")!, "channel welcome_template: WeCom sends only one attachment of a group welcome template");
                }
                break;
            case GroupChannel.MassMessage:
                if (!RefuseSender(c, "a group welcome"))
                {
                    report.Warn(c.At, "channel mass_message: each welcome waits until the group's owner confirms it in the WeCom client, and counts against the group's receiving cap (as low as 1 per day)");
                }
                break;
        }
    }

    public void Lottery(PostChannel c)
    {
        Robot(c, null, null);
        if (c.Channel == GroupChannel.MassMessage && !RefuseSender(c, "the announcement"))
        {
            report.Warn(c.At, "channel mass_message: the announcement is sent as each group's owner, who must confirm it in the WeCom client");
        }
    }

    /// <summary>
    /// WeCom gives a chat_type group task to its sender as the group's owner ("收到任务的群主", FACTS-2 5.1) and refuses
    /// it (fail_list) for groups the sender does not own, so a group post by mass message always goes as each group's
    /// owner. A sender in the rule could only be silently replaced or refused per group, so it is an error: true when
    /// the rule named one.
    /// </summary>
    private bool RefuseSender(PostChannel c, string what)
    {
        if (c.Sender is null)
        {
            return false;
        }
        report.Error(c.At, $"channel mass_message: {what} is sent as each group's owner (WeCom gives a group task only to the group's owner), so sender '{c.Sender}' cannot be used; remove sender");
        return true;
    }

    public void Seeding(PostChannel c, int posts, YamlNode postsNode)
    {
        Robot(c, null, null);
        if (c.Channel == GroupChannel.Robot)
        {
            report.Warn(c.At, "channel robot: posts show as the group robot, not as the accounts named in 'by'");
        }
        else
        {
            // Not refused: trumpet posts get their own channel in a later issue. Said here so it is not a surprise.
            report.Warn(c.At, "channel mass_message: WeCom gives a group task only to the group's owner, so a post 'by' an account that does not own the group is refused (fail_list) and recorded failed");
        }
        if (c.Channel == GroupChannel.MassMessage && posts > 1)
        {
            // README "What WeCom allows": the receiving cap may be 1 mass message per group per day.
            report.Warn(postsNode, $"channel mass_message: under a 1-per-day receiving cap these {posts} posts spread over {posts} days, and each waits for its sender to confirm it");
        }
    }

    private void Robot(PostChannel c, MessageTemplate? message, Fields? messageFields)
    {
        if (c.Channel != GroupChannel.Robot)
        {
            return;
        }
        if (c.RobotKey is null)
        {
            report.Warn(c.At, "channel robot without robot_key: the group robot's webhook key is needed to post");
        }
        if (message is null || messageFields?.Node("attachments") is not YamlSequenceNode items)
        {
            return;
        }
        for (var i = 0; i < message.Attachments.Count && i < items.Children.Count; i++)
        {
            if (message.Attachments[i] is MiniProgramAttachmentTemplate or VideoAttachmentTemplate)
            {
                report.Warn(items.Children[i], "channel robot: a group robot cannot send miniprogram or video attachments");
            }
        }
    }
}
