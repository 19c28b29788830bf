using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Unicode;

namespace Bot.Core.WeCom.Api;

// Wire shapes that only the client sees: the {errcode, errmsg} envelope and request bodies that have no public type.

internal class WeComReply
{
    [JsonPropertyName("errcode")] public int ErrCode { get; init; }
    [JsonPropertyName("errmsg")] public string? ErrMsg { get; init; }
}

internal sealed class AccessTokenReply : WeComReply
{
    [JsonPropertyName("access_token")] public string? AccessToken { get; init; }
    [JsonPropertyName("expires_in")] public int ExpiresIn { get; init; }
}

internal sealed class ExternalContactReply : WeComReply
{
    [JsonPropertyName("external_contact")] public ExternalContact? ExternalContact { get; init; }
    [JsonPropertyName("follow_user")] public IReadOnlyList<FollowUser>? FollowUser { get; init; }
    [JsonPropertyName("next_cursor")] public string? NextCursor { get; init; }
}

internal sealed record GetCorpTagListBody(
    [property: JsonPropertyName("tag_id")] IReadOnlyList<string>? TagIds,
    [property: JsonPropertyName("group_id")] IReadOnlyList<string>? GroupIds);

internal sealed class CorpTagListReply : WeComReply
{
    [JsonPropertyName("tag_group")] public IReadOnlyList<CorpTagGroup>? TagGroups { get; init; }
}

internal sealed class AddCorpTagReply : WeComReply
{
    [JsonPropertyName("tag_group")] public CorpTagGroup? TagGroup { get; init; }
}

internal sealed class AddMsgTemplateReply : WeComReply
{
    [JsonPropertyName("msgid")] public string? MsgId { get; init; }
    [JsonPropertyName("fail_list")] public IReadOnlyList<string>? FailList { get; init; }
}

internal sealed record GetGroupChatBody(
    [property: JsonPropertyName("chat_id")] string ChatId,
    [property: JsonPropertyName("need_name")] int NeedName);

internal sealed class GroupChatReply : WeComReply
{
    [JsonPropertyName("group_chat")] public GroupChat? GroupChat { get; init; }
}

internal sealed class GroupWelcomeTemplateReply : WeComReply
{
    [JsonPropertyName("template_id")] public string? TemplateId { get; init; }
}

internal sealed class AppMessageReply : WeComReply
{
    [JsonPropertyName("msgid")] public string? MsgId { get; init; }
    [JsonPropertyName("invaliduser")] public string? InvalidUser { get; init; }
    [JsonPropertyName("invalidparty")] public string? InvalidParty { get; init; }
    [JsonPropertyName("invalidtag")] public string? InvalidTag { get; init; }
}

internal sealed class UserReply : WeComReply
{
    [JsonPropertyName("userid")] public string? UserId { get; init; }
    [JsonPropertyName("name")] public string? Name { get; init; }
    [JsonPropertyName("alias")] public string? Alias { get; init; }
    [JsonPropertyName("position")] public string? Position { get; init; }
    [JsonPropertyName("department")] public IReadOnlyList<long>? Department { get; init; }
    [JsonPropertyName("main_department")] public long? MainDepartment { get; init; }
    [JsonPropertyName("status")] public int Status { get; init; }
}

internal sealed record GroupMsgTaskBody(
    [property: JsonPropertyName("msgid")] string MsgId,
    [property: JsonPropertyName("limit")] int? Limit,
    [property: JsonPropertyName("cursor")] string? Cursor);

internal sealed class GroupMsgTaskReply : WeComReply
{
    [JsonPropertyName("task_list")] public IReadOnlyList<GroupMsgTask>? TaskList { get; init; }
    [JsonPropertyName("next_cursor")] public string? NextCursor { get; init; }
}

internal sealed record GroupMsgSendResultBody(
    [property: JsonPropertyName("msgid")] string MsgId,
    [property: JsonPropertyName("userid")] string UserId,
    [property: JsonPropertyName("limit")] int? Limit,
    [property: JsonPropertyName("cursor")] string? Cursor);

internal sealed class GroupMsgSendResultReply : WeComReply
{
    [JsonPropertyName("send_list")] public IReadOnlyList<GroupMsgSendResult>? SendList { get; init; }
    [JsonPropertyName("next_cursor")] public string? NextCursor { get; init; }
}

internal sealed record RemindGroupMsgBody([property: JsonPropertyName("msgid")] string MsgId);

// Built through Wire so Chinese text goes out as UTF-8, not \uXXXX: WeCom's length limits count bytes.
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(WeComReply))]
[JsonSerializable(typeof(AccessTokenReply))]
[JsonSerializable(typeof(ExternalContactReply))]
[JsonSerializable(typeof(GetCorpTagListBody))]
[JsonSerializable(typeof(CorpTagListReply))]
[JsonSerializable(typeof(AddCorpTagRequest))]
[JsonSerializable(typeof(AddCorpTagReply))]
[JsonSerializable(typeof(MarkTagRequest))]
[JsonSerializable(typeof(SendWelcomeRequest))]
[JsonSerializable(typeof(AddMsgTemplateRequest))]
[JsonSerializable(typeof(AddMsgTemplateReply))]
[JsonSerializable(typeof(GetGroupChatBody))]
[JsonSerializable(typeof(GroupChatReply))]
[JsonSerializable(typeof(GroupWelcomeTemplate))]
[JsonSerializable(typeof(GroupWelcomeTemplateReply))]
[JsonSerializable(typeof(AppMessage))]
[JsonSerializable(typeof(AppMessageReply))]
[JsonSerializable(typeof(UserReply))]
[JsonSerializable(typeof(RobotWebhookMessage))]
[JsonSerializable(typeof(GroupMsgTaskBody))]
[JsonSerializable(typeof(GroupMsgTaskReply))]
[JsonSerializable(typeof(GroupMsgSendResultBody))]
[JsonSerializable(typeof(GroupMsgSendResultReply))]
[JsonSerializable(typeof(RemindGroupMsgBody))]
[JsonSerializable(typeof(GroupMsgListBody))]
[JsonSerializable(typeof(GroupMsgListReply))]
internal sealed partial class WeComJsonContext : JsonSerializerContext
{
    public static WeComJsonContext Wire { get; } = new(new JsonSerializerOptions
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Encoder = JavaScriptEncoder.Create(UnicodeRanges.All),
    });
}
