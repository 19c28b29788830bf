using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Xml;

namespace Bot.Core.WeCom.Callbacks;

/// <summary>Turns a decrypted app or customer-contact callback into a typed event, its kind and its dedupe key.</summary>
public static class CallbackParser
{
    private const int MaxPlaintextCharacters = 16 * 1024 * 1024;

    /// <summary>
    /// Parses decrypted callback XML. Unknown message types, events and change types become
    /// <see cref="UnknownCallback"/>; XML that is not well formed, carries a DTD, or lacks a field its type
    /// requires throws <see cref="CallbackFormatException"/>.
    /// </summary>
    public static ParsedCallback Parse(string plaintextXml)
    {
        ArgumentNullException.ThrowIfNull(plaintextXml);
        var fields = new Fields(plaintextXml);
        var msgType = fields.Required("MsgType");
        var createTime = fields.Time("CreateTime");

        var (kind, callbackEvent) = msgType switch
        {
            WeComMsgType.Event => ParseEvent(fields, createTime),
            WeComMsgType.Text => (WeComMsgType.Text, (CallbackEvent)new AppTextMessage(
                createTime, fields.Required("FromUserName"), fields.Value("Content") ?? "", fields.Required("MsgId"),
                fields.Value("AgentID") ?? "")),
            _ => ("unknown/" + msgType, new UnknownCallback(createTime, msgType, null, null)),
        };

        // Messages carry a MsgId. Events do not, and FromUserName+CreateTime (WeCom's advice) merges two customers
        // added in the same second (LESSONS #1), so an event is keyed on its whole decrypted body.
        var msgId = msgType == WeComMsgType.Event ? null : fields.Value("MsgId");
        var dedupeKey = string.IsNullOrEmpty(msgId) ? "evt:" + Sha256Hex(plaintextXml) : "msg:" + msgId;
        return new ParsedCallback(kind, dedupeKey, callbackEvent);
    }

    private static (string Kind, CallbackEvent Event) ParseEvent(Fields f, DateTimeOffset t)
    {
        var eventName = f.Required("Event");
        switch (eventName)
        {
            case WeComEventNames.ChangeExternalContact:
            {
                var change = f.Required("ChangeType");
                CallbackEvent? e = change switch
                {
                    ExternalContactChange.Add => new ExternalContactAdded(
                        t, f.Required("UserID"), f.Required("ExternalUserID"), f.Value("State"), f.Value("WelcomeCode")),
                    ExternalContactChange.Edit => new ExternalContactEdited(
                        t, f.Required("UserID"), f.Required("ExternalUserID"), f.Value("State")),
                    ExternalContactChange.AddHalf => new ExternalContactHalfAdded(
                        t, f.Required("UserID"), f.Required("ExternalUserID"), f.Value("State"), f.Value("WelcomeCode")),
                    ExternalContactChange.Delete => new ExternalContactDeletedByGuide(
                        t, f.Required("UserID"), f.Required("ExternalUserID"), f.Value("Source")),
                    ExternalContactChange.DeleteFollowUser => new GuideDeletedByCustomer(
                        t, f.Required("UserID"), f.Required("ExternalUserID")),
                    ExternalContactChange.TransferFail => new ExternalContactTransferFailed(
                        t, f.Required("UserID"), f.Required("ExternalUserID"), f.Value("FailReason")),
                    _ => null,
                };
                return Known(eventName, change, e);
            }
            case WeComEventNames.ChangeExternalChat:
            {
                var change = f.Required("ChangeType");
                CallbackEvent? e = change switch
                {
                    ExternalChatChange.Create => new ExternalChatCreated(t, f.Required("ChatId")),
                    ExternalChatChange.Update => new ExternalChatUpdated(
                        t, f.Required("ChatId"), f.Required("UpdateDetail"), f.Int("JoinScene"), f.Int("QuitScene"),
                        f.Int("MemChangeCnt"), f.MemChangeList, f.Value("LastMemVer"), f.Value("CurMemVer")),
                    ExternalChatChange.Dismiss => new ExternalChatDismissed(t, f.Required("ChatId")),
                    _ => null,
                };
                return Known(eventName, change, e);
            }
            case WeComEventNames.ChangeExternalTag:
            {
                // Id may be empty for shuffle (all groups reordered), and shuffle has no TagType (FACTS §3.9).
                var change = f.Required("ChangeType");
                return (eventName + "/" + change,
                    new ExternalTagChanged(t, f.Value("Id") ?? "", f.Value("TagType"), change, f.Value("StrategyId")));
            }
            default:
                return ("unknown/" + eventName, new UnknownCallback(t, WeComMsgType.Event, eventName, f.Value("ChangeType")));
        }

        (string, CallbackEvent) Known(string eventName, string change, CallbackEvent? e) => e is null
            ? ("unknown/" + eventName + "/" + change, new UnknownCallback(t, WeComMsgType.Event, eventName, change))
            : (eventName + "/" + change, e);
    }

    internal static string Sha256Hex(string text)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(Encoding.UTF8.GetMaxByteCount(text.Length));
        try
        {
            var length = Encoding.UTF8.GetBytes(text, buffer);
            Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
            SHA256.HashData(buffer.AsSpan(0, length), hash);
            return Convert.ToHexStringLower(hash);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer, clearArray: true);
        }
    }

    /// <summary>The root's child elements as flat text (first occurrence wins), plus MemChangeList's items.</summary>
    private sealed class Fields
    {
        private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);
        private readonly List<string> _memChangeList = [];

        public Fields(string xml)
        {
            try
            {
                using var reader = XmlReader.Create(new StringReader(xml), CallbackXml.Settings(MaxPlaintextCharacters));
                if (reader.MoveToContent() != XmlNodeType.Element)
                {
                    throw new CallbackFormatException("The callback has no root element.");
                }
                if (!reader.IsEmptyElement)
                {
                    reader.Read();
                    while (reader.NodeType != XmlNodeType.EndElement && !reader.EOF)
                    {
                        if (reader.NodeType != XmlNodeType.Element)
                        {
                            reader.Read();
                        }
                        else if (reader.LocalName == "MemChangeList")
                        {
                            ReadMemChangeList(reader);
                        }
                        else
                        {
                            var name = reader.LocalName;
                            _values.TryAdd(name, ReadText(reader));
                        }
                    }
                }
                // Drain to the end so trailing garbage or a second root is reported as malformed.
                while (reader.Read())
                {
                }
            }
            catch (XmlException ex)
            {
                var dtd = CallbackXml.HasDoctype(xml);
                throw new CallbackFormatException(dtd ? "The callback declares a DTD." : "The callback is not well-formed XML.", dtd, ex);
            }
        }

        public IReadOnlyList<string> MemChangeList => _memChangeList;

        public string? Value(string name) => _values.TryGetValue(name, out var value) && value.Length > 0 ? value : null;

        public string Required(string name) =>
            Value(name) ?? throw new CallbackFormatException($"The callback lacks <{name}>.");

        public int? Int(string name) =>
            int.TryParse(Value(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? value : null;

        public DateTimeOffset Time(string name)
        {
            var text = Required(name);
            if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)
                || seconds > DateTimeOffset.MaxValue.ToUnixTimeSeconds())
            {
                throw new CallbackFormatException($"<{name}> is not a Unix time in seconds.");
            }
            return DateTimeOffset.FromUnixTimeSeconds(seconds);
        }

        // Text and CDATA directly inside the current element; nested elements are skipped.
        private static string ReadText(XmlReader reader)
        {
            if (reader.IsEmptyElement)
            {
                reader.Read();
                return "";
            }
            var depth = reader.Depth;
            reader.Read();
            string? first = null;
            StringBuilder? more = null;
            while (reader.NodeType != XmlNodeType.EndElement || reader.Depth != depth)
            {
                switch (reader.NodeType)
                {
                    case XmlNodeType.Text or XmlNodeType.CDATA or XmlNodeType.Whitespace or XmlNodeType.SignificantWhitespace:
                        if (first is null)
                        {
                            first = reader.Value;
                        }
                        else
                        {
                            (more ??= new StringBuilder(first)).Append(reader.Value);
                        }
                        reader.Read();
                        break;
                    case XmlNodeType.Element:
                        reader.Skip();
                        break;
                    case XmlNodeType.None:
                        throw new CallbackFormatException("The callback ends inside an element.");
                    default:
                        reader.Read();
                        break;
                }
            }
            reader.Read();
            return more?.ToString() ?? first ?? "";
        }

        // <MemChangeList><Item>a</Item><Item>b</Item></MemChangeList>; older payloads used a bare "a,b" (FACTS §3.8).
        private void ReadMemChangeList(XmlReader reader)
        {
            if (reader.IsEmptyElement)
            {
                reader.Read();
                return;
            }
            var depth = reader.Depth;
            reader.Read();
            string? bare = null;
            while (reader.NodeType != XmlNodeType.EndElement || reader.Depth != depth)
            {
                switch (reader.NodeType)
                {
                    case XmlNodeType.Element:
                        var item = ReadText(reader).Trim();
                        if (item.Length > 0)
                        {
                            _memChangeList.Add(item);
                        }
                        break;
                    case XmlNodeType.Text or XmlNodeType.CDATA:
                        bare += reader.Value;
                        reader.Read();
                        break;
                    case XmlNodeType.None:
                        throw new CallbackFormatException("The callback ends inside MemChangeList.");
                    default:
                        reader.Read();
                        break;
                }
            }
            reader.Read();
            if (_memChangeList.Count == 0 && bare is not null)
            {
                _memChangeList.AddRange(bare.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));
            }
        }
    }
}
