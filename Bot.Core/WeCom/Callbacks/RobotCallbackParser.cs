using System.Text;
using System.Text.Json;

namespace Bot.Core.WeCom.Callbacks;

/// <summary>Parses a decrypted intelligent-robot (智能机器人) callback (FACTS §4.2, doc 100719).</summary>
public static class RobotCallbackParser
{
    private static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = 16 };

    /// <summary>
    /// Parses the decrypted JSON. Robot callbacks carry no creation time, so the caller passes the callback's
    /// signed (and window-checked) timestamp. Throws <see cref="CallbackFormatException"/> for malformed JSON or
    /// a missing msgid, aibotid, from.userid or msgtype. A missing chattype is taken as single.
    /// </summary>
    public static ParsedCallback Parse(string json, DateTimeOffset createTime)
    {
        ArgumentNullException.ThrowIfNull(json);
        try
        {
            using var document = JsonDocument.Parse(json, DocumentOptions);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new CallbackFormatException("The robot callback is not a JSON object.");
            }
            var msgId = Required(root, "msgid");
            var msgType = Required(root, "msgtype");
            var from = root.TryGetProperty("from", out var f) && f.ValueKind == JsonValueKind.Object ? f : default;
            var message = new RobotMessage(
                createTime,
                msgId,
                Required(root, "aibotid"),
                Optional(root, "chatid"),
                Optional(root, "chattype") ?? RobotChatType.Single,
                from.ValueKind == JsonValueKind.Object ? Required(from, "userid") : throw Missing("from.userid"),
                Optional(root, "response_url"),
                msgType,
                TextOf(root));
            return new ParsedCallback("robot/" + msgType, "robot:" + msgId, message);
        }
        catch (JsonException ex)
        {
            throw new CallbackFormatException("The robot callback is not well-formed JSON.", ex);
        }
    }

    // text.content for text messages; the text items joined for mixed (图文混排) messages.
    private static string? TextOf(JsonElement root)
    {
        if (root.TryGetProperty("text", out var text) && text.ValueKind == JsonValueKind.Object)
        {
            return Optional(text, "content");
        }
        if (root.TryGetProperty("mixed", out var mixed) && mixed.ValueKind == JsonValueKind.Object
            && mixed.TryGetProperty("msg_item", out var items) && items.ValueKind == JsonValueKind.Array)
        {
            StringBuilder? joined = null;
            foreach (var item in items.EnumerateArray())
            {
                if (item.ValueKind == JsonValueKind.Object && item.TryGetProperty("text", out var part)
                    && part.ValueKind == JsonValueKind.Object && Optional(part, "content") is { } content)
                {
                    (joined ??= new StringBuilder()).Append(content);
                }
            }
            return joined?.ToString();
        }
        return null;
    }

    private static string Required(JsonElement element, string name) => Optional(element, name) ?? throw Missing(name);

    private static string? Optional(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String && value.GetString() is { Length: > 0 } s
            ? s
            : null;

    private static CallbackFormatException Missing(string name) => new($"The robot callback lacks \"{name}\".");
}
