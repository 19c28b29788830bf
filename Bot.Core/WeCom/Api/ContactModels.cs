using System.Text.Json.Serialization;

namespace Bot.Core.WeCom.Api;

/// <summary>externalcontact/get: the customer and the members who follow them (one page of follow_user).</summary>
public sealed record ExternalContactInfo(ExternalContact Contact, IReadOnlyList<FollowUser> FollowUsers, string? NextCursor);

public sealed record ExternalContact
{
    [JsonPropertyName("external_userid")] public string ExternalUserId { get; init; } = "";
    [JsonPropertyName("name")] public string Name { get; init; } = "";
    [JsonPropertyName("position")] public string? Position { get; init; }
    [JsonPropertyName("avatar")] public string? Avatar { get; init; }
    [JsonPropertyName("corp_name")] public string? CorpName { get; init; }
    [JsonPropertyName("corp_full_name")] public string? CorpFullName { get; init; }
    /// <summary>1 WeChat user, 2 WeCom user.</summary>
    [JsonPropertyName("type")] public int Type { get; init; }
    [JsonPropertyName("gender")] public int Gender { get; init; }
    [JsonPropertyName("unionid")] public string? UnionId { get; init; }
}

public sealed record FollowUser
{
    [JsonPropertyName("userid")] public string UserId { get; init; } = "";
    [JsonPropertyName("remark")] public string? Remark { get; init; }
    [JsonPropertyName("description")] public string? Description { get; init; }
    [JsonPropertyName("createtime")] public long CreateTime { get; init; }
    [JsonPropertyName("tags")] public IReadOnlyList<FollowUserTag> Tags { get; init; } = [];
    [JsonPropertyName("state")] public string? State { get; init; }
    [JsonPropertyName("oper_userid")] public string? OperUserId { get; init; }
    [JsonPropertyName("add_way")] public int AddWay { get; init; }
}

public sealed record FollowUserTag
{
    [JsonPropertyName("group_name")] public string? GroupName { get; init; }
    [JsonPropertyName("tag_name")] public string? TagName { get; init; }
    /// <summary>Present for corp tags only.</summary>
    [JsonPropertyName("tag_id")] public string? TagId { get; init; }
    /// <summary>1 corp tag, 2 the member's own tag, 3 rule-group tag.</summary>
    [JsonPropertyName("type")] public int Type { get; init; }
}

/// <summary>user/get: a staff member (only the fields the product shows).</summary>
public sealed record WeComUser
{
    [JsonPropertyName("userid")] public string UserId { get; init; } = "";
    [JsonPropertyName("name")] public string Name { get; init; } = "";
    [JsonPropertyName("alias")] public string? Alias { get; init; }
    [JsonPropertyName("position")] public string? Position { get; init; }
    [JsonPropertyName("department")] public IReadOnlyList<long>? Department { get; init; }
    [JsonPropertyName("main_department")] public long? MainDepartment { get; init; }
    /// <summary>1 active, 2 disabled, 4 not yet activated, 5 left.</summary>
    [JsonPropertyName("status")] public int Status { get; init; }
}

/// <summary>externalcontact/groupchat/get: a customer group.</summary>
public sealed record GroupChat
{
    [JsonPropertyName("chat_id")] public string ChatId { get; init; } = "";
    [JsonPropertyName("name")] public string? Name { get; init; }
    [JsonPropertyName("owner")] public string Owner { get; init; } = "";
    [JsonPropertyName("create_time")] public long CreateTime { get; init; }
    [JsonPropertyName("notice")] public string? Notice { get; init; }
    [JsonPropertyName("member_list")] public IReadOnlyList<GroupChatMember> Members { get; init; } = [];
    [JsonPropertyName("admin_list")] public IReadOnlyList<GroupChatAdmin> Admins { get; init; } = [];
    /// <summary>Equals CurMemVer of the change_external_chat event that produced this member list.</summary>
    [JsonPropertyName("member_version")] public string? MemberVersion { get; init; }
}

public sealed record GroupChatMember
{
    [JsonPropertyName("userid")] public string UserId { get; init; } = "";
    /// <summary>1 member, 2 external contact.</summary>
    [JsonPropertyName("type")] public int Type { get; init; }
    [JsonPropertyName("unionid")] public string? UnionId { get; init; }
    [JsonPropertyName("join_time")] public long JoinTime { get; init; }
    /// <summary>1 direct invite, 2 invite link, 3 QR code (a different enum from the event's JoinScene).</summary>
    [JsonPropertyName("join_scene")] public int JoinScene { get; init; }
    [JsonPropertyName("invitor")] public GroupChatAdmin? Invitor { get; init; }
    [JsonPropertyName("group_nickname")] public string? GroupNickname { get; init; }
    [JsonPropertyName("name")] public string? Name { get; init; }
}

public sealed record GroupChatAdmin
{
    [JsonPropertyName("userid")] public string UserId { get; init; } = "";
}
