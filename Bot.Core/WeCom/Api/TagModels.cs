using System.Text.Json.Serialization;

namespace Bot.Core.WeCom.Api;

public sealed record CorpTagGroup
{
    [JsonPropertyName("group_id")] public string GroupId { get; init; } = "";
    [JsonPropertyName("group_name")] public string GroupName { get; init; } = "";
    [JsonPropertyName("create_time")] public long CreateTime { get; init; }
    [JsonPropertyName("order")] public long Order { get; init; }
    [JsonPropertyName("deleted")] public bool Deleted { get; init; }
    [JsonPropertyName("tag")] public IReadOnlyList<CorpTag> Tags { get; init; } = [];
}

public sealed record CorpTag
{
    [JsonPropertyName("id")] public string Id { get; init; } = "";
    [JsonPropertyName("name")] public string Name { get; init; } = "";
    [JsonPropertyName("create_time")] public long CreateTime { get; init; }
    [JsonPropertyName("order")] public long Order { get; init; }
    [JsonPropertyName("deleted")] public bool Deleted { get; init; }
}

/// <summary>externalcontact/add_corp_tag: give GroupId to add to an existing group, or GroupName to create one.</summary>
public sealed record AddCorpTagRequest
{
    [JsonPropertyName("group_id")] public string? GroupId { get; init; }
    [JsonPropertyName("group_name")] public string? GroupName { get; init; }
    [JsonPropertyName("order")] public long? Order { get; init; }
    [JsonPropertyName("tag")] public required IReadOnlyList<NewCorpTag> Tags { get; init; }
    [JsonPropertyName("agentid")] public long? AgentId { get; init; }
}

public sealed record NewCorpTag
{
    [JsonPropertyName("name")] public required string Name { get; init; }
    [JsonPropertyName("order")] public long? Order { get; init; }
}

/// <summary>externalcontact/mark_tag; AddTags and RemoveTags must not both be empty.</summary>
public sealed record MarkTagRequest
{
    [JsonPropertyName("userid")] public required string UserId { get; init; }
    [JsonPropertyName("external_userid")] public required string ExternalUserId { get; init; }
    [JsonPropertyName("add_tag")] public IReadOnlyList<string>? AddTags { get; init; }
    [JsonPropertyName("remove_tag")] public IReadOnlyList<string>? RemoveTags { get; init; }
}

/// <summary>mark_tag answers nothing but success.</summary>
public sealed record MarkTagResult;
