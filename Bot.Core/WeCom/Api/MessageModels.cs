using System.Text.Json.Serialization;

namespace Bot.Core.WeCom.Api;

public sealed record MessageText
{
    public MessageText(string content) => Content = content;

    [JsonPropertyName("content")] public string Content { get; init; }
}

/// <summary>
/// One attachment of a welcome message or mass-message task. WeCom wants the object named by `msgtype` and no
/// other, so build one through the factory methods.
/// </summary>
public sealed record Attachment
{
    [JsonPropertyName("msgtype")] public string MsgType { get; init; } = "";
    [JsonPropertyName("image")] public ImageAttachment? Image { get; init; }
    [JsonPropertyName("link")] public LinkAttachment? Link { get; init; }
    [JsonPropertyName("miniprogram")] public MiniProgramAttachment? MiniProgram { get; init; }
    [JsonPropertyName("video")] public MediaAttachment? Video { get; init; }
    [JsonPropertyName("file")] public MediaAttachment? File { get; init; }

    public static Attachment ForImage(ImageAttachment image) => new() { MsgType = "image", Image = image };
    public static Attachment ForLink(LinkAttachment link) => new() { MsgType = "link", Link = link };
    public static Attachment ForMiniProgram(MiniProgramAttachment miniProgram) => new() { MsgType = "miniprogram", MiniProgram = miniProgram };
    public static Attachment ForVideo(string mediaId) => new() { MsgType = "video", Video = new MediaAttachment(mediaId) };
    public static Attachment ForFile(string mediaId) => new() { MsgType = "file", File = new MediaAttachment(mediaId) };
}

/// <summary>An image by media_id or pic_url; media_id wins when both are set.</summary>
public sealed record ImageAttachment
{
    [JsonPropertyName("media_id")] public string? MediaId { get; init; }
    [JsonPropertyName("pic_url")] public string? PicUrl { get; init; }
}

public sealed record LinkAttachment
{
    [JsonPropertyName("title")] public required string Title { get; init; }
    [JsonPropertyName("picurl")] public string? PicUrl { get; init; }
    [JsonPropertyName("desc")] public string? Desc { get; init; }
    [JsonPropertyName("url")] public required string Url { get; init; }
}

public sealed record MiniProgramAttachment
{
    [JsonPropertyName("title")] public required string Title { get; init; }
    [JsonPropertyName("pic_media_id")] public required string PicMediaId { get; init; }
    [JsonPropertyName("appid")] public required string AppId { get; init; }
    [JsonPropertyName("page")] public required string Page { get; init; }
}

public sealed record MediaAttachment
{
    public MediaAttachment(string mediaId) => MediaId = mediaId;

    [JsonPropertyName("media_id")] public string MediaId { get; init; }
}

/// <summary>externalcontact/send_welcome_msg: the welcome code is valid for 20 s and usable once.</summary>
public sealed record SendWelcomeRequest
{
    public const int MaxAttachments = 9;

    [JsonPropertyName("welcome_code")] public required string WelcomeCode { get; init; }
    [JsonPropertyName("text")] public MessageText? Text { get; init; }
    [JsonPropertyName("attachments")] public IReadOnlyList<Attachment>? Attachments { get; init; }
}

public sealed record SendWelcomeResult;

public static class ChatTypes
{
    public const string Single = "single", Group = "group";
}

/// <summary>
/// externalcontact/add_msg_template: creates a mass-message task the sender confirms in the WeCom client.
/// Single chats take ExternalUserIds; group chats take a Sender and optionally ChatIds.
/// </summary>
public sealed record AddMsgTemplateRequest
{
    [JsonPropertyName("chat_type")] public string ChatType { get; init; } = ChatTypes.Single;
    [JsonPropertyName("external_userid")] public IReadOnlyList<string>? ExternalUserIds { get; init; }
    [JsonPropertyName("chat_id_list")] public IReadOnlyList<string>? ChatIds { get; init; }
    [JsonPropertyName("sender")] public string? Sender { get; init; }
    [JsonPropertyName("allow_select")] public bool? AllowSelect { get; init; }
    [JsonPropertyName("text")] public MessageText? Text { get; init; }
    [JsonPropertyName("attachments")] public IReadOnlyList<Attachment>? Attachments { get; init; }
}

/// <summary>The task id (for get_groupmsg_task and friends) and the recipients WeCom refused outright.</summary>
public sealed record AddMsgTemplateResult(string MsgId, IReadOnlyList<string> FailList);

/// <summary>externalcontact/group_welcome_template/add: WeCom itself sends it to joiners once an owner selects it.</summary>
public sealed record GroupWelcomeTemplate
{
    /// <summary>`%NICKNAME%` (case-sensitive) is replaced by the joiner's nickname.</summary>
    [JsonPropertyName("text")] public MessageText? Text { get; init; }
    [JsonPropertyName("image")] public ImageAttachment? Image { get; init; }
    [JsonPropertyName("link")] public LinkAttachment? Link { get; init; }
    [JsonPropertyName("miniprogram")] public MiniProgramAttachment? MiniProgram { get; init; }
    [JsonPropertyName("file")] public MediaAttachment? File { get; init; }
    [JsonPropertyName("video")] public MediaAttachment? Video { get; init; }
    [JsonPropertyName("agentid")] public long? AgentId { get; init; }
    /// <summary>0 or 1 (default): whether group owners are told about the new material.</summary>
    [JsonPropertyName("notify")] public int? Notify { get; init; }
}

/// <summary>message/send: an app message to staff members. AgentId defaults to `WeCom:AgentId`.</summary>
public sealed record AppMessage
{
    /// <summary>Member ids joined with '|', or "@all".</summary>
    [JsonPropertyName("touser")] public string? ToUser { get; init; }
    [JsonPropertyName("toparty")] public string? ToParty { get; init; }
    [JsonPropertyName("totag")] public string? ToTag { get; init; }
    [JsonPropertyName("msgtype")] public string MsgType { get; init; } = "text";
    [JsonPropertyName("agentid")] public long AgentId { get; init; }
    [JsonPropertyName("text")] public MessageText? Text { get; init; }
    [JsonPropertyName("markdown")] public MessageText? Markdown { get; init; }
    [JsonPropertyName("safe")] public int? Safe { get; init; }
    [JsonPropertyName("enable_duplicate_check")] public int? EnableDuplicateCheck { get; init; }
    [JsonPropertyName("duplicate_check_interval")] public int? DuplicateCheckInterval { get; init; }

    public static AppMessage TextTo(string toUser, string content) => new() { ToUser = toUser, Text = new MessageText(content) };
}

/// <summary>Recipients WeCom could not reach are listed; the message still went to the others.</summary>
public sealed record AppMessageResult(string? MsgId, string? InvalidUser, string? InvalidParty, string? InvalidTag);

/// <summary>A group robot message (`webhook/send?key=…`): 20 messages per minute per robot.</summary>
public sealed record RobotWebhookMessage
{
    [JsonPropertyName("msgtype")] public string MsgType { get; init; } = "text";
    [JsonPropertyName("text")] public RobotText? Text { get; init; }
    [JsonPropertyName("markdown")] public MessageText? Markdown { get; init; }
    [JsonPropertyName("news")] public RobotNews? News { get; init; }

    public static RobotWebhookMessage ForText(string content, IReadOnlyList<string>? mentionedUserIds = null) =>
        new() { MsgType = "text", Text = new RobotText { Content = content, MentionedList = mentionedUserIds } };

    public static RobotWebhookMessage ForMarkdown(string content) => new() { MsgType = "markdown", Markdown = new MessageText(content) };
}

public sealed record RobotText
{
    [JsonPropertyName("content")] public required string Content { get; init; }
    [JsonPropertyName("mentioned_list")] public IReadOnlyList<string>? MentionedList { get; init; }
    [JsonPropertyName("mentioned_mobile_list")] public IReadOnlyList<string>? MentionedMobileList { get; init; }
}

public sealed record RobotNews
{
    [JsonPropertyName("articles")] public required IReadOnlyList<RobotArticle> Articles { get; init; }
}

public sealed record RobotArticle
{
    [JsonPropertyName("title")] public required string Title { get; init; }
    [JsonPropertyName("description")] public string? Description { get; init; }
    [JsonPropertyName("url")] public required string Url { get; init; }
    [JsonPropertyName("picurl")] public string? PicUrl { get; init; }
}

/// <summary>get_groupmsg_task: one page of the members asked to confirm a mass-message task.</summary>
public sealed record GroupMsgTaskPage(IReadOnlyList<GroupMsgTask> Tasks, string? NextCursor);

public sealed record GroupMsgTask
{
    [JsonPropertyName("userid")] public string UserId { get; init; } = "";
    /// <summary>0 not sent yet, 2 sent.</summary>
    [JsonPropertyName("status")] public int Status { get; init; }
    [JsonPropertyName("send_time")] public long? SendTime { get; init; }
}

/// <summary>get_groupmsg_send_result: one page of per-recipient results of a member's part of a task.</summary>
public sealed record GroupMsgSendResultPage(IReadOnlyList<GroupMsgSendResult> Results, string? NextCursor);

public sealed record GroupMsgSendResult
{
    [JsonPropertyName("external_userid")] public string? ExternalUserId { get; init; }
    [JsonPropertyName("chat_id")] public string? ChatId { get; init; }
    [JsonPropertyName("userid")] public string UserId { get; init; } = "";
    /// <summary>0 not sent, 1 sent, 2 not a friend any more, 3 the recipient already got another mass message.</summary>
    [JsonPropertyName("status")] public int Status { get; init; }
    [JsonPropertyName("send_time")] public long? SendTime { get; init; }
}
