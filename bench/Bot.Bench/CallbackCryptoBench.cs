using System.Text;
using BenchmarkDotNet.Attributes;
using Bot.Core.WeCom;
using Bot.Core.WeCom.Callbacks;
using Microsoft.Extensions.Options;

namespace Bot.Bench;

/// <summary>
/// The callback hot path for a typical 'contact added' event: envelope, signature, timestamp window,
/// AES decrypt, receiveId and typed parse, plus the crypto steps on their own.
/// </summary>
[MemoryDiagnoser]
public class CallbackCryptoBench
{
    private const string Token = "QDG6eK";
    private const string Key = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
    private const string CorpId = "wx5823bf96d3bd56c7";
    private const string Timestamp = "1700000000";
    private const string Nonce = "1372623149";

    private const string ContactAdded =
        "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
        + "<CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        + "<Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[add_external_contact]]></ChangeType>"
        + "<UserID><![CDATA[zhangsan]]></UserID><ExternalUserID><![CDATA[woAJ2GCAAAXtWyujaWJHDDGi0mAAAA]]></ExternalUserID>"
        + "<State><![CDATA[store-sh-001]]></State><WelcomeCode><![CDATA[WELCOMECODE]]></WelcomeCode></xml>";

    private CallbackCrypto _crypto = null!;
    private CallbackVerifier _verifier = null!;
    private string _encrypt = null!;
    private string _signature = null!;
    private byte[] _body = null!;

    [GlobalSetup]
    public void Setup()
    {
        _crypto = new CallbackCrypto(Token, Key, CorpId);
        _verifier = new CallbackVerifier(
            Options.Create(new WeComOptions { CorpId = CorpId, Token = Token, EncodingAesKey = Key }),
            new FixedClock(DateTimeOffset.FromUnixTimeSeconds(long.Parse(Timestamp))));
        _encrypt = _crypto.Encrypt(ContactAdded, "0123456789abcdef"u8);
        _signature = _crypto.Sign(Timestamp, Nonce, _encrypt);
        _body = Encoding.UTF8.GetBytes(
            $"<xml><ToUserName><![CDATA[{CorpId}]]></ToUserName><Encrypt><![CDATA[{_encrypt}]]></Encrypt><AgentID><![CDATA[1000002]]></AgentID></xml>");
        if (VerifyDecryptParse() != "change_external_contact/add_external_contact")
        {
            throw new InvalidOperationException("The benchmark callback does not verify.");
        }
    }

    [Benchmark(Baseline = true)]
    public string VerifyDecryptParse() => _verifier.VerifyXml(_signature, Timestamp, Nonce, _body).Callback!.Kind;

    [Benchmark]
    public bool SignatureOnly() => _crypto.SignatureMatches(_signature, Timestamp, Nonce, _encrypt);

    [Benchmark]
    public string DecryptOnly()
    {
        _crypto.TryDecrypt(_encrypt, out var plaintext);
        return plaintext;
    }

    [Benchmark]
    public string ParseOnly() => CallbackParser.Parse(ContactAdded).DedupeKey;

    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
