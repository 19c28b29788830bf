using System.Globalization;
using System.Text;
using Bot.Core.WeCom.Callbacks;

namespace Bot.Bench;

/// <summary>
/// Signed, encrypted 'contact added' callbacks as WeCom would send them, with the identity in the WeCom__* environment
/// variables (the same ones the host under test reads). Each carries its own external user id and welcome code,
/// so every one is a distinct store, never a cheap duplicate.
/// </summary>
internal sealed class CallbackGenerator
{
    private readonly CallbackCrypto _crypto;
    private readonly string _corpId;
    private readonly string _agentId;
    private readonly string _run = Guid.NewGuid().ToString("N")[..8];

    public CallbackGenerator(string corpId, string agentId, string token, string encodingAesKey)
    {
        _corpId = corpId;
        _agentId = agentId;
        _crypto = new CallbackCrypto(token, encodingAesKey, corpId);
    }

    public static CallbackGenerator FromEnvironment() => new(
        Env("WeCom__CorpId"), Env("WeCom__AgentId"), Env("WeCom__Token"), Env("WeCom__EncodingAesKey"));

    /// <summary>The welcome code carried by callback number <paramref name="index"/>.</summary>
    public string WelcomeCode(int index) => $"WC{_run}{index:D8}";

    /// <summary>Path and query, and the XML body, of callback number <paramref name="index"/>.</summary>
    public (string PathAndQuery, string Body) Create(int index, DateTimeOffset now)
    {
        var timestamp = now.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var plaintext =
            $"<xml><ToUserName><![CDATA[{_corpId}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>{timestamp}</CreateTime>"
            + "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[add_external_contact]]></ChangeType>"
            + $"<UserID><![CDATA[guide{index % 50:D2}]]></UserID><ExternalUserID><![CDATA[wmbench{_run}{index:D8}]]></ExternalUserID>"
            + $"<State><![CDATA[store-sh-001]]></State><WelcomeCode><![CDATA[{WelcomeCode(index)}]]></WelcomeCode></xml>";
        var encrypt = _crypto.Encrypt(plaintext);
        var nonce = (index + 100_000_000).ToString(CultureInfo.InvariantCulture);
        var signature = _crypto.Sign(timestamp, nonce, encrypt);
        var body = $"<xml><ToUserName><![CDATA[{_corpId}]]></ToUserName><AgentID><![CDATA[{_agentId}]]></AgentID><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>";
        return ($"/wecom/callback?msg_signature={signature}&timestamp={timestamp}&nonce={nonce}", body);
    }

    /// <summary>`gen-callbacks FILE N`: one request a line, "path?query\tbody".</summary>
    public static async Task<int> WriteFileAsync(string[] args)
    {
        if (args.Length < 2 || !int.TryParse(args[1], CultureInfo.InvariantCulture, out var count) || count <= 0)
        {
            Console.Error.WriteLine("usage: Bot.Bench gen-callbacks FILE N");
            return 2;
        }
        var generator = FromEnvironment();
        var now = DateTimeOffset.UtcNow;
        await using var writer = new StreamWriter(args[0], append: false, new UTF8Encoding(false), bufferSize: 1 << 20);
        for (var i = 0; i < count; i++)
        {
            var (path, body) = generator.Create(i, now);
            await writer.WriteAsync(path);
            await writer.WriteAsync('\t');
            await writer.WriteLineAsync(body);
        }
        Console.Error.WriteLine($"wrote {count:N0} signed callbacks to {args[0]}");
        return 0;
    }

    private static string Env(string name) =>
        Environment.GetEnvironmentVariable(name) is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException($"Set {name} (the WeCom identity the host under test uses).");
}
