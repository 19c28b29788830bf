using System.Text.Json;
using System.Text.Json.Serialization;

namespace Bot.Core.WeCom.Api;

/// <summary>
/// externalcontact/get_groupmsg_list_v2 (FACTS-2 §5.2): the mass-message tasks created in a time window. start/end
/// are Unix seconds and required, at most a month apart; <see cref="Creator"/> filters by member, but tasks created
/// through the API carry no creator, so a search for the bot's own tasks leaves it out.
/// </summary>
public sealed record GroupMsgListQuery
{
    /// <summary>"single" or "group" (<see cref="ChatTypes"/>); required.</summary>
    public required string ChatType { get; init; }
    public required DateTimeOffset StartTime { get; init; }
    public required DateTimeOffset EndTime { get; init; }
    public string? Creator { get; init; }

    /// <summary>0 企业发表, 1 个人发表, 2 all (WeCom's default).</summary>
    public int? FilterType { get; init; }

    /// <summary>At most 100 (WeCom's default 50).</summary>
    public int? Limit { get; init; }
    public string? Cursor { get; init; }

    /// <summary>filter_type of tasks the corp created, the API's among them.</summary>
    public const int CorpCreated = 0;

    public const int MaxLimit = 100;
}

/// <summary>One task from get_groupmsg_list_v2.</summary>
public sealed record GroupMsg
{
    [JsonPropertyName("msgid")] public string MsgId { get; init; } = "";

    /// <summary>Absent for tasks created through the API.</summary>
    [JsonPropertyName("creator")] public string? Creator { get; init; }
    [JsonPropertyName("create_time")] public long CreateTime { get; init; }

    /// <summary>0 企业, 1 个人.</summary>
    [JsonPropertyName("create_type")] public int CreateType { get; init; }
    [JsonPropertyName("text")] public MessageText? Text { get; init; }
    [JsonPropertyName("attachments")] public JsonElement? Attachments { get; init; }
}

public sealed record GroupMsgListPage(IReadOnlyList<GroupMsg> Messages, string? NextCursor);

internal sealed record GroupMsgListBody(
    [property: JsonPropertyName("chat_type")] string ChatType,
    [property: JsonPropertyName("start_time")] long StartTime,
    [property: JsonPropertyName("end_time")] long EndTime,
    [property: JsonPropertyName("creator")] string? Creator,
    [property: JsonPropertyName("filter_type")] int? FilterType,
    [property: JsonPropertyName("limit")] int? Limit,
    [property: JsonPropertyName("cursor")] string? Cursor);

internal sealed class GroupMsgListReply : WeComReply
{
    [JsonPropertyName("group_msg_list")] public IReadOnlyList<GroupMsg>? GroupMsgList { get; init; }
    [JsonPropertyName("next_cursor")] public string? NextCursor { get; init; }
}
