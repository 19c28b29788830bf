using System.Globalization;

namespace Bot.Core.Rules;

/// <summary>How much a rules folder may hold, from <see cref="RulesOptions"/>.</summary>
internal sealed record RuleLimits(long MaxFileBytes, long MaxFolderBytes, int MaxRules, TextLimit ReplyText)
{
    public static RuleLimits From(RulesOptions options) => new(
        options.MaxFileBytes, options.MaxFolderBytes, options.MaxRules,
        new TextLimit(options.MaxReplyTextBytes, "a reply", "Rules:MaxReplyTextBytes"));
}

/// <summary>
/// The most UTF-8 bytes an API takes in one text field. <paramref name="Option"/> names the setting when the limit
/// is ours rather than WeCom's.
/// </summary>
internal sealed record TextLimit(int Bytes, string Sender, string? Option = null)
{
    public string Refusal => Option is null
        ? string.Create(CultureInfo.InvariantCulture, $"{Sender} takes at most {Bytes:N0}")
        : string.Create(CultureInfo.InvariantCulture, $"{Sender} may have at most {Bytes:N0} ({Option})");
}

/// <summary>WeCom's limits on the texts rule files send, from shared/wecom/FACTS.md.</summary>
internal static class WeComTextLimits
{
    /// <summary>send_welcome_msg text.content (FACTS 5.2).</summary>
    public static readonly TextLimit WelcomeText = new(4000, "send_welcome_msg");

    /// <summary>add_msg_template text.content, the mass_message channel (FACTS 5.6).</summary>
    public static readonly TextLimit MassMessageText = new(4000, "add_msg_template");

    /// <summary>group_welcome_template/add text.content, the welcome_template channel (FACTS 5.8).</summary>
    public static readonly TextLimit GroupWelcomeTemplateText = new(3000, "group_welcome_template/add");

    /// <summary>The group robot webhook's text.content, the robot channel (FACTS 5.11).</summary>
    public static readonly TextLimit RobotText = new(2048, "a group robot post (webhook/send)");

    // Attachment fields, the same for send_welcome_msg, add_msg_template and group welcome templates (FACTS 5.2, 5.8).
    public static readonly TextLimit LinkTitle = new(128, "a link attachment's title");

    public static readonly TextLimit LinkDesc = new(512, "a link attachment's desc");

    public static readonly TextLimit MiniProgramTitle = new(64, "a miniprogram attachment's title");

    /// <summary>The text limit of a group post by its channel.</summary>
    public static TextLimit ForGroupPost(GroupChannel channel) => channel switch
    {
        GroupChannel.Robot => RobotText,
        GroupChannel.WelcomeTemplate => GroupWelcomeTemplateText,
        _ => MassMessageText,
    };
}
