using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Bot.Core.Inbox;
using Bot.Core.WeCom.Callbacks;
using Bot.Tests.Fixtures;

namespace Bot.Tests.EndToEnd;

/// <summary>The callback URL over HTTP: every forged, stale, malformed or oversized request is refused and stores nothing.</summary>
[TestFixture]
public sealed class CallbackEndpointTests
{
    private BotApp _app = null!;
    private HttpClient _client = null!;

    [OneTimeSetUp]
    public void StartApp()
    {
        _app = new BotApp();
        FakeWeCom.StubAll(_app.WeCom);
        _client = _app.CreateClient();
    }

    [OneTimeTearDown]
    public void StopApp()
    {
        _client.Dispose();
        _app.Dispose();
    }

    private static string Now => DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);

    private static string Envelope(string encrypt) =>
        $"<xml><ToUserName><![CDATA[{BotApp.CorpId}]]></ToUserName><AgentID><![CDATA[1000002]]></AgentID><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>";

    private static HttpRequestMessage Post(string body, string? signature, string timestamp, string nonce = "424242")
    {
        var query = signature is null ? $"timestamp={timestamp}&nonce={nonce}" : $"msg_signature={signature}&timestamp={timestamp}&nonce={nonce}";
        return new HttpRequestMessage(HttpMethod.Post, "/wecom/callback?" + query)
        {
            Content = new StringContent(body, Encoding.UTF8, "application/xml"),
        };
    }

    /// <summary>A request whose signature is right for <paramref name="encrypt"/>, so only the later checks can refuse it.</summary>
    private HttpRequestMessage SignedEnvelope(string encrypt, string? body = null)
    {
        var timestamp = Now;
        return Post(body ?? Envelope(encrypt), _app.Crypto.Sign(timestamp, "424242", encrypt), timestamp);
    }

    // AES-256-CBC with the app's key and IV (the key's first 16 bytes), bytes chosen by the test: a last byte of 0 is no valid pad.
    private static string EncryptRaw(byte[] data)
    {
        var key = Convert.FromBase64String(BotApp.EncodingAesKey + "=");
        using var aes = Aes.Create();
        aes.Key = key;
        return Convert.ToBase64String(aes.EncryptCbc(data, key.AsSpan(0, 16), PaddingMode.None));
    }

    private static string Plain(string content) =>
        $"<xml><ToUserName><![CDATA[{BotApp.CorpId}]]></ToUserName><FromUserName><![CDATA[guide01]]></FromUserName><CreateTime>{Now}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content><MsgId>{Random.Shared.NextInt64(1, long.MaxValue)}</MsgId><AgentID>1000002</AgentID></xml>";

    private async Task<long> StoredAsync()
    {
        var stats = await _app.Service<InboxStore>().GetStatsAsync(CancellationToken.None);
        return stats.Pending + stats.Parked + stats.Handled;
    }

    private static IEnumerable<TestCaseData> BadRequests()
    {
        yield return new TestCaseData(new Func<CallbackEndpointTests, HttpRequestMessage>(t =>
        {
            var encrypt = t._app.Crypto.Encrypt(Plain("hi"));
            return Post(Envelope(encrypt), null, Now);
        }), 401).SetName("A callback without msg_signature is refused with 401");
        yield return new TestCaseData(new Func<CallbackEndpointTests, HttpRequestMessage>(t =>
        {
            var encrypt = t._app.Crypto.Encrypt(Plain("hi"));
            return Post(Envelope(encrypt), t._app.Crypto.Sign(Now, "424242", encrypt + "x"), Now);
        }), 401).SetName("A callback with a wrong signature is refused with 401");
        yield return new TestCaseData(new Func<CallbackEndpointTests, HttpRequestMessage>(t =>
        {
            var encrypt = t._app.Crypto.Encrypt(Plain("hi"));
            var old = DateTimeOffset.UtcNow.AddSeconds(-700).ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
            return Post(Envelope(encrypt), t._app.Crypto.Sign(old, "424242", encrypt), old);
        }), 401).SetName("A correctly signed callback 700 s old is refused with 401");
        yield return new TestCaseData(new Func<CallbackEndpointTests, HttpRequestMessage>(t =>
        {
            var future = DateTimeOffset.UtcNow.AddSeconds(700).ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
            var encrypt = t._app.Crypto.Encrypt(Plain("hi"));
            return Post(Envelope(encrypt), t._app.Crypto.Sign(future, "424242", encrypt), future);
        }), 401).SetName("A correctly signed callback 700 s in the future is refused with 401");
        yield return new TestCaseData(new Func<CallbackEndpointTests, HttpRequestMessage>(t =>
            t.SignedEnvelope("not*base64!!")), 400).SetName("A signed Encrypt that is not Base64 is refused with 400");
        yield return new TestCaseData(new Func<CallbackEndpointTests, HttpRequestMessage>(t =>
            t.SignedEnvelope(EncryptRaw(new byte[64]))), 400).SetName("A signed Encrypt with invalid padding is refused with 400");
        yield return new TestCaseData(new Func<CallbackEndpointTests, HttpRequestMessage>(t =>
            t.SignedEnvelope(new CallbackCrypto(BotApp.Token, BotApp.EncodingAesKey, "wwforeigncorp0001").Encrypt(Plain("hi")))), 403)
            .SetName("A callback sealed for another CorpID is refused with 403");
        yield return new TestCaseData(new Func<CallbackEndpointTests, HttpRequestMessage>(t =>
        {
            var encrypt = t._app.Crypto.Encrypt(Plain("hi"));
            return t.SignedEnvelope(encrypt, $"<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt>");
        }), 400).SetName("A malformed XML envelope is refused with 400");
        yield return new TestCaseData(new Func<CallbackEndpointTests, HttpRequestMessage>(t =>
        {
            var encrypt = t._app.Crypto.Encrypt(Plain("hi"));
            return t.SignedEnvelope(encrypt, "<?xml version=\"1.0\"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>" + Envelope(encrypt).Replace("1000002", "&xxe;", StringComparison.Ordinal));
        }), 400).SetName("An envelope carrying a DTD with an external entity is refused with 400");
        yield return new TestCaseData(new Func<CallbackEndpointTests, HttpRequestMessage>(t =>
        {
            var plain = "<!DOCTYPE xml [<!ENTITY lol \"lol\">]>" + Plain("&lol;");
            return t.SignedEnvelope(t._app.Crypto.Encrypt(plain));
        }), 400).SetName("A DTD inside the encrypted payload is refused with 400");
        yield return new TestCaseData(new Func<CallbackEndpointTests, HttpRequestMessage>(t =>
        {
            var encrypt = t._app.Crypto.Encrypt(Plain(new string('a', 70_000)));
            return t.SignedEnvelope(encrypt);
        }), 413).SetName("A correctly signed body over 64 KiB is refused with 413");
    }

    [TestCaseSource(nameof(BadRequests))]
    public async Task Refused_callbacks_store_nothing(Func<CallbackEndpointTests, HttpRequestMessage> build, int status)
    {
        var before = await StoredAsync();
        using var request = build(this);

        using var response = await _client.SendAsync(request);

        Assert.That((int)response.StatusCode, Is.EqualTo(status));
        Assert.That(await StoredAsync(), Is.EqualTo(before), "a refused callback was stored");
    }

    [Test]
    public async Task A_valid_callback_is_stored_so_the_refusals_above_are_meaningful()
    {
        var before = await StoredAsync();
        using var request = _app.SignedPost(Plain("hello"));

        using var response = await _client.SendAsync(request);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await StoredAsync(), Is.EqualTo(before + 1));
    }

    [Test]
    public async Task Url_verification_answers_the_bare_echostr()
    {
        var timestamp = Now;
        var echostr = _app.Crypto.Encrypt("5927782489442352469");
        var signature = _app.Crypto.Sign(timestamp, "1372623149", echostr);

        using var response = await _client.GetAsync(
            $"/wecom/callback?msg_signature={signature}&timestamp={timestamp}&nonce=1372623149&echostr={Uri.EscapeDataString(echostr)}");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await response.Content.ReadAsByteArrayAsync(), Is.EqualTo(Encoding.ASCII.GetBytes("5927782489442352469")));
    }

    [Test]
    public async Task Url_verification_with_a_bad_signature_is_refused_with_401()
    {
        var timestamp = Now;
        var echostr = _app.Crypto.Encrypt("5927782489442352469");
        var signature = _app.Crypto.Sign(timestamp, "1372623149", echostr + "A");

        using var response = await _client.GetAsync(
            $"/wecom/callback?msg_signature={signature}&timestamp={timestamp}&nonce=1372623149&echostr={Uri.EscapeDataString(echostr)}");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That(await response.Content.ReadAsStringAsync(), Is.Empty);
    }
}
