using System.Text;
using Bot.Core.WeCom;
using Bot.Core.WeCom.Callbacks;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Bot.Tests.WeCom.Callbacks;

public sealed class CallbackVerifierTests
{
    // The official sample's app (FACTS §1.9 V1/V2): token, key and CorpID.
    private const string Token = "QDG6eK";
    private const string Key = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
    private const string CorpId = "wx5823bf96d3bd56c7";
    private const string Timestamp = "1700000000";
    private const string Nonce = "1372623149";

    private const string ContactAdded =
        "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
        + "<CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        + "<Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[add_external_contact]]></ChangeType>"
        + "<UserID><![CDATA[zhangsan]]></UserID><ExternalUserID><![CDATA[wmEXT1]]></ExternalUserID>"
        + "<State><![CDATA[store-1]]></State><WelcomeCode><![CDATA[WELCOME1]]></WelcomeCode></xml>";

    private const string BillionLaughs =
        """<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;"><!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>"""
        + "<xml><Encrypt>&lol4;</Encrypt></xml>";

    private readonly CallbackCrypto _crypto = new(Token, Key, CorpId);
    private FakeTimeProvider _time = null!;
    private CallbackVerifier _verifier = null!;

    [SetUp]
    public void SetUp() => ClockAt(secondsAfterTimestamp: 0);

    // FakeTimeProvider cannot go back in time, so each clock position gets its own provider.
    private void ClockAt(int secondsAfterTimestamp)
    {
        _time = new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(long.Parse(Timestamp) + secondsAfterTimestamp));
        _verifier = NewVerifier(_time);
    }

    private static CallbackVerifier NewVerifier(TimeProvider time, int maxBodyBytes = 64 * 1024) => new(
        Options.Create(new WeComOptions
        {
            CorpId = CorpId, AgentId = "1000002", Secret = "secret", Token = Token, EncodingAesKey = Key,
            CallbackTimestampWindow = TimeSpan.FromSeconds(600), MaxCallbackBodyBytes = maxBodyBytes,
        }),
        time);

    private static ReadOnlyMemory<byte> Envelope(string encrypt) => Encoding.UTF8.GetBytes(
        $"<xml><ToUserName><![CDATA[{CorpId}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt><AgentID><![CDATA[1000002]]></AgentID></xml>");

    private CallbackVerification PostSigned(string encrypt, string timestamp = Timestamp) =>
        _verifier.VerifyXml(_crypto.Sign(timestamp, Nonce, encrypt), timestamp, Nonce, Envelope(encrypt));

    private CallbackVerification PostPlaintext(string plaintext) => PostSigned(_crypto.Encrypt(plaintext));

    [Test]
    public void A_signed_contact_added_callback_is_accepted_and_parsed()
    {
        var result = PostPlaintext(ContactAdded);
        Assert.Multiple(() =>
        {
            Assert.That(result.Rejection, Is.EqualTo(CallbackRejection.None));
            Assert.That(result.IsValid, Is.True);
            Assert.That(result.Plaintext, Is.EqualTo(ContactAdded));
            Assert.That(result.Callback!.Kind, Is.EqualTo("change_external_contact/add_external_contact"));
            Assert.That(result.Callback.Event, Is.TypeOf<ExternalContactAdded>());
        });
    }

    [Test]
    public void The_official_decryptmsg_sample_is_accepted_with_its_own_body()
    {
        var v2 = CryptoVector.Load("official-vectors.json").Single(v => v.Id!.StartsWith("V2", StringComparison.Ordinal));
        var verifier = NewVerifier(new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(long.Parse(v2.Timestamp))));
        var body = Encoding.UTF8.GetBytes(
            $"<xml><ToUserName><![CDATA[{CorpId}]]></ToUserName><Encrypt><![CDATA[{v2.Encrypt}]]></Encrypt><AgentID><![CDATA[218]]></AgentID></xml>");
        var result = verifier.VerifyXml(v2.MsgSignature, v2.Timestamp, v2.Nonce, body);
        Assert.That(result.Rejection, Is.EqualTo(CallbackRejection.None));
        Assert.That(result.Callback!.Event, Is.EqualTo(new AppTextMessage(
            DateTimeOffset.FromUnixTimeSeconds(1409659813), "mycreate", "hello", "4561255354251345929", "218")));
    }

    [Test]
    public void Url_verification_returns_the_decrypted_echostr_of_the_official_sample()
    {
        var v1 = CryptoVector.Load("official-vectors.json").Single(v => v.Id!.StartsWith("V1", StringComparison.Ordinal));
        var verifier = NewVerifier(new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(long.Parse(v1.Timestamp))));
        var result = verifier.VerifyUrl(v1.MsgSignature, v1.Timestamp, v1.Nonce, v1.Encrypt);
        Assert.That(result.Rejection, Is.EqualTo(CallbackRejection.None));
        Assert.That(result.Plaintext, Is.EqualTo("1616140317555161061"));
        Assert.That(result.Callback, Is.Null);
    }

    [Test]
    public void Url_verification_fails_when_the_echostr_was_url_decoded_twice()
    {
        // A second decode turns the '+' of the Base64 into spaces (FACTS §1.8.4): the endpoint must decode once.
        var v1 = CryptoVector.Load("official-vectors.json").Single(v => v.Id!.StartsWith("V1", StringComparison.Ordinal));
        var verifier = NewVerifier(new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(long.Parse(v1.Timestamp))));
        Assert.That(v1.Encrypt, Does.Contain("+"));
        var decodedTwice = System.Net.WebUtility.UrlDecode(v1.Encrypt);
        Assert.That(verifier.VerifyUrl(v1.MsgSignature, v1.Timestamp, v1.Nonce, decodedTwice).Rejection,
            Is.EqualTo(CallbackRejection.BadSignature));
    }

    [Test]
    public void Url_verification_without_echostr_is_malformed()
    {
        Assert.That(_verifier.VerifyUrl("5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3", Timestamp, Nonce, null).Rejection,
            Is.EqualTo(CallbackRejection.MalformedEnvelope));
    }

    [Test]
    public void A_tampered_signature_is_refused()
    {
        var encrypt = _crypto.Encrypt(ContactAdded);
        var signature = _crypto.Sign(Timestamp, Nonce, encrypt);
        var tampered = (signature[0] == 'a' ? "b" : "a") + signature[1..];
        Assert.That(_verifier.VerifyXml(tampered, Timestamp, Nonce, Envelope(encrypt)).Rejection, Is.EqualTo(CallbackRejection.BadSignature));
    }

    [Test]
    public void A_tampered_ciphertext_is_refused_by_the_signature_before_decryption()
    {
        var encrypt = _crypto.Encrypt(ContactAdded);
        var signature = _crypto.Sign(Timestamp, Nonce, encrypt);
        var tampered = (encrypt[0] == 'A' ? "B" : "A") + encrypt[1..];
        Assert.That(_verifier.VerifyXml(signature, Timestamp, Nonce, Envelope(tampered)).Rejection, Is.EqualTo(CallbackRejection.BadSignature));
    }

    [TestCase(null, Timestamp, Nonce)]
    [TestCase("", Timestamp, Nonce)]
    [TestCase("0e8fa724114689a8a4a7fa24bfc0e2129b0068ba", null, Nonce)]
    [TestCase("0e8fa724114689a8a4a7fa24bfc0e2129b0068ba", Timestamp, null)]
    public void A_callback_without_signature_timestamp_or_nonce_is_refused_as_unsigned(string? signature, string? timestamp, string? nonce)
    {
        var encrypt = _crypto.Encrypt(ContactAdded);
        Assert.That(_verifier.VerifyXml(signature, timestamp, nonce, Envelope(encrypt)).Rejection, Is.EqualTo(CallbackRejection.MissingSignature));
    }

    [TestCase(-601)]
    [TestCase(601)]
    [TestCase(-86_400)]
    public void A_callback_outside_the_timestamp_window_is_refused_as_stale(int timestampAheadOfClockSeconds)
    {
        ClockAt(-timestampAheadOfClockSeconds);
        Assert.That(PostPlaintext(ContactAdded).Rejection, Is.EqualTo(CallbackRejection.StaleTimestamp));
    }

    [TestCase(-600)]
    [TestCase(600)]
    public void A_callback_at_the_edge_of_the_window_is_accepted(int timestampAheadOfClockSeconds)
    {
        ClockAt(-timestampAheadOfClockSeconds);
        Assert.That(PostPlaintext(ContactAdded).Rejection, Is.EqualTo(CallbackRejection.None));
    }

    [TestCase("17000000x0")]
    [TestCase("-1700000000")]
    [TestCase("99999999999999999999")]
    public void A_signed_timestamp_that_is_not_unix_seconds_is_refused_as_stale(string timestamp)
    {
        Assert.That(PostSigned(_crypto.Encrypt(ContactAdded), timestamp).Rejection, Is.EqualTo(CallbackRejection.StaleTimestamp));
    }

    [Test]
    public void A_signed_encrypt_that_is_not_base64_is_refused()
    {
        Assert.That(PostSigned("@@not-base64@@").Rejection, Is.EqualTo(CallbackRejection.BadBase64));
    }

    [Test]
    public void A_signed_ciphertext_with_bad_padding_is_refused()
    {
        var frame = new byte[64];
        frame[^1] = 0;
        Assert.That(PostSigned(RawCipher.Seal(Key, frame)).Rejection, Is.EqualTo(CallbackRejection.BadPadding));
    }

    [Test]
    public void A_message_sealed_for_another_corp_is_refused()
    {
        var otherCorp = new CallbackCrypto(Token, Key, "wwf181555a13a31443");
        Assert.That(PostSigned(otherCorp.Encrypt(ContactAdded)).Rejection, Is.EqualTo(CallbackRejection.ForeignReceiveId));
    }

    [TestCase("<xml><ToUserName>corp</ToUserName><AgentID>1</AgentID></xml>", TestName = "An_envelope_without_Encrypt_is_malformed")]
    [TestCase("<xml><Encrypt></Encrypt></xml>", TestName = "An_envelope_with_empty_Encrypt_is_malformed")]
    [TestCase("<xml><Encrypt>YQ==</Encrypt><Encrypt>Yg==</Encrypt></xml>", TestName = "An_envelope_with_two_Encrypt_elements_is_malformed")]
    [TestCase("<xml><Encrypt><b>YQ==</b></Encrypt></xml>", TestName = "An_envelope_whose_Encrypt_has_markup_is_malformed")]
    [TestCase("<root><Encrypt>YQ==</Encrypt></root>", TestName = "An_envelope_with_another_root_is_malformed")]
    [TestCase("<xml><Encrypt>YQ==</Encrypt>", TestName = "An_unclosed_envelope_is_malformed")]
    [TestCase("{\"encrypt\":\"YQ==\"}", TestName = "A_json_body_on_the_xml_endpoint_is_malformed")]
    [TestCase("", TestName = "An_empty_body_is_malformed")]
    public void Envelope_problems_are_refused_before_the_signature_is_checked(string body)
    {
        var result = _verifier.VerifyXml("0e8fa724114689a8a4a7fa24bfc0e2129b0068ba", Timestamp, Nonce, Encoding.UTF8.GetBytes(body));
        Assert.That(result.Rejection, Is.EqualTo(CallbackRejection.MalformedEnvelope));
    }

    [Test]
    public void Plaintext_posted_without_encryption_is_refused()
    {
        // LESSONS #4: SDKs that accepted a body without <Encrypt> as trusted plaintext.
        var body = Encoding.UTF8.GetBytes(ContactAdded);
        Assert.That(_verifier.VerifyXml(null, null, null, body).Rejection, Is.EqualTo(CallbackRejection.MalformedEnvelope));
    }

    [TestCase("""<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><Encrypt>&xxe;</Encrypt></xml>""", TestName = "An_envelope_with_an_external_entity_is_refused_as_dtd")]
    [TestCase("""<!DOCTYPE xml SYSTEM "http://127.0.0.1:1/evil.dtd"><xml><Encrypt>YQ==</Encrypt></xml>""", TestName = "An_envelope_with_an_external_dtd_is_refused_as_dtd")]
    [TestCase(BillionLaughs, TestName = "An_envelope_with_billion_laughs_is_refused_as_dtd")]
    public void Envelope_dtds_are_forbidden(string body)
    {
        var result = _verifier.VerifyXml("0e8fa724114689a8a4a7fa24bfc0e2129b0068ba", Timestamp, Nonce, Encoding.UTF8.GetBytes(body));
        Assert.That(result.Rejection, Is.EqualTo(CallbackRejection.DtdForbidden));
    }

    [Test]
    public void A_decrypted_payload_with_an_external_entity_is_refused_as_dtd()
    {
        const string xxe = """<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><MsgType>text</MsgType><CreateTime>1</CreateTime><FromUserName>a</FromUserName><MsgId>1</MsgId><Content>&xxe;</Content></xml>""";
        Assert.That(PostPlaintext(xxe).Rejection, Is.EqualTo(CallbackRejection.DtdForbidden));
    }

    [Test]
    public void A_decrypted_payload_with_billion_laughs_is_refused_as_dtd()
    {
        Assert.That(PostPlaintext(BillionLaughs).Rejection, Is.EqualTo(CallbackRejection.DtdForbidden));
    }

    [TestCase("<xml><MsgType>text</MsgType>", TestName = "An_unclosed_decrypted_payload_is_malformed_xml")]
    [TestCase("hello", TestName = "A_decrypted_payload_that_is_not_xml_is_malformed_xml")]
    [TestCase("<xml><MsgType>event</MsgType><CreateTime>1</CreateTime></xml>", TestName = "A_decrypted_event_without_Event_is_malformed_xml")]
    [TestCase("<xml><MsgType>text</MsgType><CreateTime>soon</CreateTime></xml>", TestName = "A_decrypted_payload_with_a_bad_CreateTime_is_malformed_xml")]
    [TestCase("<xml></xml><xml></xml>", TestName = "A_decrypted_payload_with_two_roots_is_malformed_xml")]
    public void Malformed_decrypted_payloads_are_refused(string plaintext)
    {
        Assert.That(PostPlaintext(plaintext).Rejection, Is.EqualTo(CallbackRejection.MalformedXml));
    }

    [Test]
    public void A_body_over_the_size_cap_is_refused_before_parsing()
    {
        var verifier = NewVerifier(_time, maxBodyBytes: 1024);
        var body = new byte[1025];
        Assert.That(verifier.VerifyXml(null, null, null, body).Rejection, Is.EqualTo(CallbackRejection.BodyTooLarge));
        Assert.That(verifier.VerifyRobotJson(null, null, null, body).Rejection, Is.EqualTo(CallbackRejection.BodyTooLarge));
    }

    [Test]
    public void A_body_in_a_slice_of_a_larger_buffer_is_read_from_its_own_bytes()
    {
        var encrypt = _crypto.Encrypt(ContactAdded);
        var envelope = Envelope(encrypt).ToArray();
        var padded = new byte[envelope.Length + 20];
        padded.AsSpan(0, 10).Fill((byte)'<');
        envelope.CopyTo(padded, 10);
        var result = _verifier.VerifyXml(_crypto.Sign(Timestamp, Nonce, encrypt), Timestamp, Nonce, padded.AsMemory(10, envelope.Length));
        Assert.That(result.Rejection, Is.EqualTo(CallbackRejection.None));
    }

    private const string RobotText =
        """{"msgid":"CAIQ16HMjQYY","aibotid":"AIBOTID","chatid":"wrCHAT","chattype":"group","from":{"userid":"wmCUST"},"response_url":"https://example.invalid/r","msgtype":"text","text":{"content":"@RobotA 抽奖"}}""";

    private CallbackVerification PostRobot(string plaintext, CallbackCrypto? sealer = null)
    {
        var encrypt = (sealer ?? new CallbackCrypto(Token, Key, "")).Encrypt(plaintext);
        var body = Encoding.UTF8.GetBytes($$"""{"encrypt":"{{encrypt}}"}""");
        return _verifier.VerifyRobotJson(_crypto.Sign(Timestamp, Nonce, encrypt), Timestamp, Nonce, body);
    }

    [Test]
    public void A_robot_callback_sealed_for_the_empty_receiveId_is_accepted_and_parsed()
    {
        var result = PostRobot(RobotText);
        Assert.That(result.Rejection, Is.EqualTo(CallbackRejection.None));
        Assert.That(result.Callback!.Kind, Is.EqualTo("robot/text"));
        var message = (RobotMessage)result.Callback.Event;
        Assert.That(message.CreateTime, Is.EqualTo(DateTimeOffset.FromUnixTimeSeconds(long.Parse(Timestamp))));
        Assert.That(message.Text, Is.EqualTo("@RobotA 抽奖"));
    }

    [Test]
    public void A_robot_callback_sealed_for_the_corp_is_refused()
    {
        Assert.That(PostRobot(RobotText, _crypto).Rejection, Is.EqualTo(CallbackRejection.ForeignReceiveId));
    }

    [Test]
    public void A_robot_callback_whose_payload_is_not_json_is_refused()
    {
        Assert.That(PostRobot("{\"msgid\":").Rejection, Is.EqualTo(CallbackRejection.MalformedXml));
    }

    [TestCase("<xml/>")]
    [TestCase("{}")]
    [TestCase("{\"encrypt\":42}")]
    [TestCase("{\"encrypt\":\"YQ==\",\"encrypt\":\"Yg==\"}")]
    [TestCase("[\"YQ==\"]")]
    [TestCase("{\"encrypt\":\"YQ==\"} trailing")]
    public void A_robot_body_without_one_encrypt_string_is_malformed(string body)
    {
        var result = _verifier.VerifyRobotJson("0e8fa724114689a8a4a7fa24bfc0e2129b0068ba", Timestamp, Nonce, Encoding.UTF8.GetBytes(body));
        Assert.That(result.Rejection, Is.EqualTo(CallbackRejection.MalformedEnvelope));
    }

    [Test]
    public void Robot_url_verification_opens_an_echostr_sealed_for_the_empty_receiveId()
    {
        var echo = new CallbackCrypto(Token, Key, "").Encrypt("94966531020182955848408");
        var signature = _crypto.Sign(Timestamp, Nonce, echo);
        Assert.That(_verifier.VerifyRobotUrl(signature, Timestamp, Nonce, echo).Plaintext, Is.EqualTo("94966531020182955848408"));
        Assert.That(_verifier.VerifyUrl(signature, Timestamp, Nonce, echo).Rejection, Is.EqualTo(CallbackRejection.ForeignReceiveId));
    }

    [TestCase(CallbackRejection.None, 200)]
    [TestCase(CallbackRejection.MissingSignature, 401)]
    [TestCase(CallbackRejection.BadSignature, 401)]
    [TestCase(CallbackRejection.StaleTimestamp, 401)]
    [TestCase(CallbackRejection.ForeignReceiveId, 403)]
    [TestCase(CallbackRejection.BodyTooLarge, 413)]
    [TestCase(CallbackRejection.BadBase64, 400)]
    [TestCase(CallbackRejection.BadPadding, 400)]
    [TestCase(CallbackRejection.MalformedEnvelope, 400)]
    [TestCase(CallbackRejection.MalformedXml, 400)]
    [TestCase(CallbackRejection.DtdForbidden, 400)]
    public void Each_rejection_maps_to_its_status_code(CallbackRejection rejection, int status)
    {
        Assert.That(rejection.StatusCode(), Is.EqualTo(status));
    }

    [Test]
    public void Every_rejection_reason_has_a_status_code_test()
    {
        var covered = typeof(CallbackVerifierTests).GetMethod(nameof(Each_rejection_maps_to_its_status_code))!
            .GetCustomAttributes(typeof(TestCaseAttribute), false).Cast<TestCaseAttribute>()
            .Select(a => (CallbackRejection)a.Arguments[0]!);
        Assert.That(covered, Is.EquivalentTo(Enum.GetValues<CallbackRejection>()));
    }
}
