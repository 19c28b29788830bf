namespace Bot.Core.WeCom.Callbacks;

public enum InboundSource
{
    /// <summary>A staff member wrote to the self-built app.</summary>
    App,

    /// <summary>A user @-mentioned the intelligent robot in a group, or wrote to it one to one.</summary>
    Robot,
}

/// <summary>Words someone sent us, whatever the channel: what keyword rules and lottery entries match on.</summary>
public sealed record InboundMessage(
    InboundSource Source,
    string FromUserId,
    string? ChatId,
    bool IsGroup,
    string Text,
    string MessageId,
    string? ResponseUrl)
{
    /// <summary>The message for an app text or a robot message with text; null for every other event.</summary>
    public static InboundMessage? From(CallbackEvent callbackEvent) => callbackEvent switch
    {
        AppTextMessage m => new InboundMessage(InboundSource.App, m.FromUserName, null, false, m.Content, m.MsgId, null),
        RobotMessage { Text: { } text } r when r.ChatType == RobotChatType.Group => new InboundMessage(
            InboundSource.Robot, r.FromUserId, r.ChatId, true, WithoutLeadingMention(text), r.MsgId, r.ResponseUrl),
        RobotMessage { Text: { } text } r => new InboundMessage(
            InboundSource.Robot, r.FromUserId, r.ChatId, false, text.Trim(), r.MsgId, r.ResponseUrl),
        _ => null,
    };

    // In groups WeCom prefixes the text with the robot's "@name" (FACTS §4.2). Rules match on what the user said,
    // so drop that first token; WeCom separates mentions with U+2005 as well as ordinary spaces.
    private static string WithoutLeadingMention(string text)
    {
        var trimmed = text.TrimStart();
        if (!trimmed.StartsWith('@'))
        {
            return trimmed.TrimEnd();
        }
        var end = trimmed.AsSpan().IndexOfAny(' ', '\u2005', '\u00a0');
        return end < 0 ? trimmed.TrimEnd() : trimmed[(end + 1)..].Trim();
    }
}
