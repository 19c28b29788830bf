using System.Globalization;
using System.Text.Json;
using System.Xml;
using Microsoft.Extensions.Options;

namespace Bot.Core.WeCom.Callbacks;

/// <summary>
/// The outcome of verifying one callback. <see cref="Plaintext"/> is the decrypted echostr or payload and
/// <see cref="Callback"/> the parsed payload (null for URL verification); both are null when rejected.
/// </summary>
public readonly record struct CallbackVerification(CallbackRejection Rejection, string? Plaintext)
{
    public ParsedCallback? Callback { get; init; }

    public bool IsValid => Rejection == CallbackRejection.None;

    internal static CallbackVerification Reject(CallbackRejection rejection) => new(rejection, null);
}

/// <summary>
/// Verifies WeCom callbacks in the order signature → timestamp window → decrypt → receiveId → parse.
/// Pass query values exactly as ASP.NET's <c>Request.Query</c> returns them: they are already percent-decoded
/// once, and decoding echostr again would turn its '+' into a space (FACTS §1.8.4).
/// </summary>
public sealed class CallbackVerifier
{
    private readonly CallbackCrypto _app;
    // Intelligent-robot callbacks are sealed for the empty receiveId (FACTS §1.2, doc 101033), with the robot's own
    // Token and EncodingAESKey when the tenant gave it different ones.
    private readonly CallbackCrypto _robot;
    private readonly TimeProvider _time;
    private readonly TimeSpan _window;
    private readonly int _maxBodyBytes;

    public CallbackVerifier(IOptions<WeComOptions> options, TimeProvider time)
    {
        var o = options.Value;
        _app = new CallbackCrypto(o.Token, o.EncodingAesKey, o.CorpId);
        var (robotToken, robotKey) = o.RobotSecrets();
        _robot = new CallbackCrypto(robotToken, robotKey, "");
        _time = time;
        _window = o.CallbackTimestampWindow;
        _maxBodyBytes = o.MaxCallbackBodyBytes;
    }

    /// <summary>The app callback URL check (GET): the decrypted echostr is the whole response body.</summary>
    public CallbackVerification VerifyUrl(string? msgSignature, string? timestamp, string? nonce, string? echostr) =>
        VerifyEcho(_app, msgSignature, timestamp, nonce, echostr);

    /// <summary>The robot callback URL check (GET), sealed for the empty receiveId.</summary>
    public CallbackVerification VerifyRobotUrl(string? msgSignature, string? timestamp, string? nonce, string? echostr) =>
        VerifyEcho(_robot, msgSignature, timestamp, nonce, echostr);

    /// <summary>An app or customer-contact callback (POST): <c>&lt;xml&gt;&lt;ToUserName/&gt;&lt;AgentID/&gt;&lt;Encrypt/&gt;&lt;/xml&gt;</c>.</summary>
    public CallbackVerification VerifyXml(string? msgSignature, string? timestamp, string? nonce, ReadOnlyMemory<byte> body)
    {
        if (body.Length > _maxBodyBytes)
        {
            return CallbackVerification.Reject(CallbackRejection.BodyTooLarge);
        }
        var envelope = ReadXmlEnvelope(body);
        if (envelope.Rejection != CallbackRejection.None)
        {
            return CallbackVerification.Reject(envelope.Rejection);
        }
        var opened = Open(_app, msgSignature, timestamp, nonce, envelope.Encrypt!, out _);
        if (!opened.IsValid)
        {
            return opened;
        }
        try
        {
            return opened with { Callback = CallbackParser.Parse(opened.Plaintext!) };
        }
        catch (CallbackFormatException ex)
        {
            return CallbackVerification.Reject(ex.DtdFound ? CallbackRejection.DtdForbidden : CallbackRejection.MalformedXml);
        }
    }

    /// <summary>An intelligent-robot callback (POST): JSON <c>{"encrypt":"…"}</c> whose payload is JSON too.</summary>
    public CallbackVerification VerifyRobotJson(string? msgSignature, string? timestamp, string? nonce, ReadOnlyMemory<byte> body)
    {
        if (body.Length > _maxBodyBytes)
        {
            return CallbackVerification.Reject(CallbackRejection.BodyTooLarge);
        }
        var encrypt = ReadJsonEnvelope(body.Span);
        if (encrypt is null)
        {
            return CallbackVerification.Reject(CallbackRejection.MalformedEnvelope);
        }
        var opened = Open(_robot, msgSignature, timestamp, nonce, encrypt, out var sentAt);
        if (!opened.IsValid)
        {
            return opened;
        }
        try
        {
            return opened with { Callback = RobotCallbackParser.Parse(opened.Plaintext!, sentAt) };
        }
        catch (CallbackFormatException)
        {
            return CallbackVerification.Reject(CallbackRejection.MalformedXml);
        }
    }

    private CallbackVerification VerifyEcho(CallbackCrypto crypto, string? msgSignature, string? timestamp, string? nonce, string? echostr) =>
        string.IsNullOrEmpty(echostr)
            ? CallbackVerification.Reject(string.IsNullOrEmpty(msgSignature) ? CallbackRejection.MissingSignature : CallbackRejection.MalformedEnvelope)
            : Open(crypto, msgSignature, timestamp, nonce, echostr, out _);

    private CallbackVerification Open(
        CallbackCrypto crypto, string? msgSignature, string? timestamp, string? nonce, string encrypt, out DateTimeOffset sentAt)
    {
        sentAt = default;
        if (string.IsNullOrEmpty(msgSignature) || string.IsNullOrEmpty(timestamp) || string.IsNullOrEmpty(nonce))
        {
            return CallbackVerification.Reject(CallbackRejection.MissingSignature);
        }
        if (!crypto.SignatureMatches(msgSignature, timestamp, nonce, encrypt))
        {
            return CallbackVerification.Reject(CallbackRejection.BadSignature);
        }
        // Checked after the signature, so an attacker cannot probe our clock without the token.
        if (!long.TryParse(timestamp, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)
            || seconds > DateTimeOffset.MaxValue.ToUnixTimeSeconds())
        {
            return CallbackVerification.Reject(CallbackRejection.StaleTimestamp);
        }
        sentAt = DateTimeOffset.FromUnixTimeSeconds(seconds);
        if ((_time.GetUtcNow() - sentAt).Duration() > _window)
        {
            return CallbackVerification.Reject(CallbackRejection.StaleTimestamp);
        }
        var rejection = crypto.TryDecrypt(encrypt, out var plaintext);
        return rejection == CallbackRejection.None
            ? new CallbackVerification(CallbackRejection.None, plaintext)
            : CallbackVerification.Reject(rejection);
    }

    private (CallbackRejection Rejection, string? Encrypt) ReadXmlEnvelope(ReadOnlyMemory<byte> body)
    {
        // Only Encrypt is signed; ToUserName and AgentID are advisory and ignored. A body without exactly one
        // Encrypt is refused, never treated as plaintext (LESSONS #4).
        string? encrypt = null;
        try
        {
            using var reader = XmlReader.Create(AsStream(body), CallbackXml.Settings(_maxBodyBytes));
            if (reader.MoveToContent() != XmlNodeType.Element || reader.LocalName != "xml")
            {
                return (CallbackRejection.MalformedEnvelope, null);
            }
            var rootDepth = reader.Depth;
            while (reader.Read())
            {
                if (reader.NodeType == XmlNodeType.Element && reader.Depth == rootDepth + 1 && reader.LocalName == "Encrypt")
                {
                    if (encrypt is not null)
                    {
                        return (CallbackRejection.MalformedEnvelope, null);
                    }
                    encrypt = reader.ReadElementContentAsString();
                    // ReadElementContentAsString leaves the reader on the next node, which Read() would skip.
                    if (reader.NodeType == XmlNodeType.Element && reader.Depth == rootDepth + 1 && reader.LocalName == "Encrypt")
                    {
                        return (CallbackRejection.MalformedEnvelope, null);
                    }
                }
            }
        }
        catch (XmlException)
        {
            return (CallbackXml.HasDoctype(body.Span) ? CallbackRejection.DtdForbidden : CallbackRejection.MalformedEnvelope, null);
        }
        // Not trimmed: the signature covers the element text exactly as sent, as in the official libraries.
        return string.IsNullOrWhiteSpace(encrypt) ? (CallbackRejection.MalformedEnvelope, null) : (CallbackRejection.None, encrypt);
    }

    private static Stream AsStream(ReadOnlyMemory<byte> body) =>
        System.Runtime.InteropServices.MemoryMarshal.TryGetArray(body, out var segment)
            ? new MemoryStream(segment.Array!, segment.Offset, segment.Count, writable: false)
            : new MemoryStream(body.ToArray(), writable: false);

    private static string? ReadJsonEnvelope(ReadOnlySpan<byte> body)
    {
        try
        {
            var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = 8 });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return null;
            }
            string? encrypt = null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isEncrypt = reader.ValueTextEquals("encrypt"u8);
                reader.Read();
                if (isEncrypt)
                {
                    if (encrypt is not null || reader.TokenType != JsonTokenType.String)
                    {
                        return null;
                    }
                    encrypt = reader.GetString();
                }
                else
                {
                    reader.Skip();
                }
            }
            if (reader.TokenType != JsonTokenType.EndObject || reader.Read())
            {
                return null;
            }
            return string.IsNullOrEmpty(encrypt) ? null : encrypt;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
