using System.Text.Json;
using System.Text.Json.Serialization;
using Bot.Core.WeCom.Api;

namespace Bot.Core.Outbox;

/// <summary>The JSON each outbox kind stores; the actions in <see cref="OutboundAction"/>'s closed set write and read it.</summary>
internal static class OutboundPayloads
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, Json);

    public static T Deserialize<T>(string json) => JsonSerializer.Deserialize<T>(json, Json)
        ?? throw new JsonException($"empty {typeof(T).Name} payload");
}

/// <summary>A welcome and, for the SLA metrics, the channel (`state`) and guide it answers.</summary>
internal sealed record WelcomePayload(SendWelcomeRequest Request, string? State, string Guide);

/// <summary>Tags by name; ids are resolved (and missing tags created) when sent, so a renamed tag list is seen.</summary>
internal sealed record TagChangePayload(string? UserId, string ExternalUserId, IReadOnlyList<string> Tags);

/// <summary>A reply: through the robot message's response_url, or as an app message to a staff member.</summary>
internal sealed record ReplyPayload(string? ResponseUrl, string? ToUser, string Text);

internal static class GroupPostChannels
{
    public const string Robot = "robot", MassMessage = "mass_message";
}

/// <summary>The stored form of a <see cref="GroupPost"/>; the kind column says which purpose it serves.</summary>
internal sealed record GroupPostPayload(string Channel, string ChatId, string Text, string? RobotKey, string? Sender, string? BatchKey = null)
{
    public const string MembersPlaceholder = "\u0001members\u0001";
}
