using System.Buffers.Binary;
using System.Text;
using Bot.Core.WeCom.Callbacks;

namespace Bot.Tests.WeCom.Callbacks;

public sealed class CallbackCryptoTests
{
    private const string Key = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
    private const string CorpId = "wx5823bf96d3bd56c7";

    [TestCaseSource(typeof(CryptoVector), nameof(CryptoVector.All))]
    public void Every_vector_signs_and_verifies_to_its_msg_signature(CryptoVector v)
    {
        var crypto = new CallbackCrypto(v.Token, v.EncodingAesKey, v.ReceiveId);
        Assert.Multiple(() =>
        {
            Assert.That(crypto.Sign(v.Timestamp, v.Nonce, v.Encrypt), Is.EqualTo(v.MsgSignature));
            Assert.That(crypto.SignatureMatches(v.MsgSignature, v.Timestamp, v.Nonce, v.Encrypt), Is.True);
        });
    }

    [TestCaseSource(typeof(CryptoVector), nameof(CryptoVector.All))]
    public void Every_vector_decrypts_to_its_plaintext_unless_sealed_for_another_receiver(CryptoVector v)
    {
        var crypto = new CallbackCrypto(v.Token, v.EncodingAesKey, v.ReceiveId);
        var rejection = crypto.TryDecrypt(v.Encrypt, out var plaintext);
        if (v.ExpectReceiveIdMismatch is null)
        {
            Assert.That(rejection, Is.EqualTo(CallbackRejection.None));
            Assert.That(plaintext, Is.EqualTo(v.Plaintext));
        }
        else
        {
            Assert.That(rejection, Is.EqualTo(CallbackRejection.ForeignReceiveId));
            Assert.That(plaintext, Is.Empty);
        }
    }

    [TestCaseSource(typeof(CryptoVector), nameof(CryptoVector.All))]
    public void Every_vector_re_encrypts_byte_for_byte_with_its_random_bytes(CryptoVector v)
    {
        var receiveId = v.ExpectReceiveIdMismatch ?? v.ReceiveId;
        var crypto = new CallbackCrypto(v.Token, v.EncodingAesKey, receiveId);
        var encrypt = crypto.Encrypt(v.Plaintext, Convert.FromHexString(v.RandomHex));
        Assert.That(encrypt, Is.EqualTo(v.Encrypt));
        Assert.That(crypto.Sign(v.Timestamp, v.Nonce, encrypt), Is.EqualTo(v.MsgSignature));
    }

    [Test]
    public void The_foreign_receiveId_vector_opens_only_for_the_receiver_it_was_sealed_for()
    {
        var v9 = CryptoVector.Load("official-vectors.json").Single(v => v.ExpectReceiveIdMismatch is not null);
        var theirs = new CallbackCrypto(v9.Token, v9.EncodingAesKey, v9.ExpectReceiveIdMismatch!);
        Assert.That(theirs.TryDecrypt(v9.Encrypt, out var plaintext), Is.EqualTo(CallbackRejection.None));
        Assert.That(plaintext, Is.EqualTo(v9.Plaintext));
    }

    [Test]
    public void Signature_sorts_ordinally_not_by_culture()
    {
        var v7 = CryptoVector.Load("official-vectors.json").Single(v => v.Id!.StartsWith("V7", StringComparison.Ordinal));
        var crypto = new CallbackCrypto(v7.Token, v7.EncodingAesKey, v7.ReceiveId);
        var signature = crypto.Sign(v7.Timestamp, v7.Nonce, v7.Encrypt);
        Assert.That(signature, Is.EqualTo("1ba3cb09c0d2c2b3ed6900d37f91a6efae6cb011"));
        Assert.That(signature, Is.Not.EqualTo("d9ace9788421d59d231fcc18da42bacb578caeeb"));
    }

    [Test]
    public void Every_pad_value_from_1_to_32_round_trips()
    {
        var crypto = new CallbackCrypto("token", Key, CorpId);
        var random = Enumerable.Range(1, 16).Select(i => (byte)i).ToArray();
        var seen = new HashSet<int>();
        for (var length = 0; length < 32; length++)
        {
            var message = new string('m', length) ;
            var encrypt = crypto.Encrypt(message, random);
            var raw = RawCipher.Open(Key, encrypt);
            var pad = raw[^1];
            seen.Add(pad);
            Assert.Multiple(() =>
            {
                Assert.That(raw.Length % 32, Is.Zero);
                Assert.That(raw[^pad..], Is.All.EqualTo(pad));
                Assert.That(raw.Length - pad, Is.EqualTo(16 + 4 + length + CorpId.Length));
                Assert.That(crypto.TryDecrypt(encrypt, out var plaintext), Is.EqualTo(CallbackRejection.None));
                Assert.That(plaintext, Is.EqualTo(message));
            });
        }
        Assert.That(seen, Is.EquivalentTo(Enumerable.Range(1, 32)));
    }

    [Test]
    public void Message_length_counts_utf8_bytes_not_characters()
    {
        var crypto = new CallbackCrypto("token", Key, CorpId);
        var encrypt = crypto.Encrypt("我是中文abcd123", new byte[16]);
        var raw = RawCipher.Open(Key, encrypt);
        Assert.That(BinaryPrimitives.ReadUInt32BigEndian(raw.AsSpan(16, 4)), Is.EqualTo(19));
        Assert.That(crypto.TryDecrypt(encrypt, out var plaintext), Is.EqualTo(CallbackRejection.None));
        Assert.That(plaintext, Is.EqualTo("我是中文abcd123"));
    }

    [Test]
    public void Encrypt_without_given_random_bytes_differs_each_time_and_still_decrypts()
    {
        var crypto = new CallbackCrypto("token", Key, CorpId);
        var first = crypto.Encrypt("hello");
        var second = crypto.Encrypt("hello");
        Assert.That(first, Is.Not.EqualTo(second));
        Assert.That(crypto.TryDecrypt(second, out var plaintext), Is.EqualTo(CallbackRejection.None));
        Assert.That(plaintext, Is.EqualTo("hello"));
    }

    [TestCase("not base64 at all!")]
    [TestCase("QUJD=")]
    public void Text_that_is_not_base64_is_refused_as_bad_base64(string encrypt)
    {
        var crypto = new CallbackCrypto("token", Key, CorpId);
        Assert.That(crypto.TryDecrypt(encrypt, out _), Is.EqualTo(CallbackRejection.BadBase64));
    }

    [TestCase(0)]
    [TestCase(20)]
    [TestCase(40)]
    public void Ciphertext_that_is_not_whole_aes_blocks_is_refused(int length)
    {
        var crypto = new CallbackCrypto("token", Key, CorpId);
        Assert.That(crypto.TryDecrypt(Convert.ToBase64String(new byte[length]), out _), Is.EqualTo(CallbackRejection.BadPadding));
    }

    [TestCase(0, TestName = "Pad_value_0_is_refused")]
    [TestCase(33, TestName = "Pad_value_33_is_refused")]
    [TestCase(255, TestName = "Pad_value_255_is_refused")]
    public void Pad_value_out_of_range_is_refused(int padValue)
    {
        var crypto = new CallbackCrypto("token", Key, CorpId);
        var frame = Frame("hi", CorpId, totalLength: 64);
        frame[^1] = (byte)padValue;
        Assert.That(crypto.TryDecrypt(RawCipher.Seal(Key, frame), out _), Is.EqualTo(CallbackRejection.BadPadding));
    }

    [Test]
    public void Pad_bytes_that_are_not_all_equal_are_refused()
    {
        var crypto = new CallbackCrypto("token", Key, CorpId);
        var frame = Frame("hi", CorpId, totalLength: 64);
        var pad = frame[^1];
        Assert.That(pad, Is.GreaterThan(1));
        frame[^pad] ^= 1;
        Assert.That(crypto.TryDecrypt(RawCipher.Seal(Key, frame), out _), Is.EqualTo(CallbackRejection.BadPadding));
    }

    [Test]
    public void A_well_framed_message_opens_when_sealed_by_hand()
    {
        // Guards the hand-made frames above: only the deliberate corruption makes them fail.
        var crypto = new CallbackCrypto("token", Key, CorpId);
        var encrypt = RawCipher.Seal(Key, Frame("hi", CorpId, totalLength: 64));
        Assert.That(crypto.TryDecrypt(encrypt, out var plaintext), Is.EqualTo(CallbackRejection.None));
        Assert.That(plaintext, Is.EqualTo("hi"));
    }

    [TestCase(1000u)]
    [TestCase(uint.MaxValue)]
    public void A_length_field_pointing_past_the_end_is_refused(uint claimed)
    {
        var crypto = new CallbackCrypto("token", Key, CorpId);
        var frame = Frame("hi", CorpId, totalLength: 64);
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(16, 4), claimed);
        Assert.That(crypto.TryDecrypt(RawCipher.Seal(Key, frame), out _), Is.EqualTo(CallbackRejection.MalformedEnvelope));
    }

    [Test]
    public void A_frame_shorter_than_its_header_is_refused()
    {
        var crypto = new CallbackCrypto("token", Key, CorpId);
        var block = new byte[32];
        block.AsSpan(16).Fill(16);
        Assert.That(crypto.TryDecrypt(RawCipher.Seal(Key, block), out _), Is.EqualTo(CallbackRejection.MalformedEnvelope));
    }

    [Test]
    public void ReceiveId_comparison_is_ordinal_and_case_sensitive()
    {
        var sender = new CallbackCrypto("token", Key, CorpId.ToUpperInvariant());
        var receiver = new CallbackCrypto("token", Key, CorpId);
        Assert.That(receiver.TryDecrypt(sender.Encrypt("x"), out _), Is.EqualTo(CallbackRejection.ForeignReceiveId));
    }

    [Test]
    public void Robot_crypto_with_empty_receiveId_refuses_app_messages_and_opens_its_own()
    {
        var app = new CallbackCrypto("token", Key, CorpId);
        var robot = new CallbackCrypto("token", Key, "");
        Assert.That(robot.TryDecrypt(app.Encrypt("{}"), out _), Is.EqualTo(CallbackRejection.ForeignReceiveId));
        Assert.That(app.TryDecrypt(robot.Encrypt("{}"), out _), Is.EqualTo(CallbackRejection.ForeignReceiveId));
        Assert.That(robot.TryDecrypt(robot.Encrypt("{}"), out var plaintext), Is.EqualTo(CallbackRejection.None));
        Assert.That(plaintext, Is.EqualTo("{}"));
    }

    [TestCase(null)]
    [TestCase("")]
    [TestCase("5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd")]
    [TestCase("5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd30")]
    [TestCase("zz45ff5e21c57e6ad56bac8758b79b1d9ac89fd3")]
    [TestCase("5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd4")]
    public void Wrong_or_malformed_signatures_never_match(string? signature)
    {
        var v1 = CryptoVector.Load("official-vectors.json").First();
        var crypto = new CallbackCrypto(v1.Token, v1.EncodingAesKey, v1.ReceiveId);
        Assert.That(crypto.SignatureMatches(signature, v1.Timestamp, v1.Nonce, v1.Encrypt), Is.False);
    }

    [Test]
    public void Passive_reply_is_a_signed_envelope_that_decrypts_to_the_reply()
    {
        var crypto = new CallbackCrypto("token", Key, CorpId);
        var reply = crypto.PassiveReply("<xml><Content>hi</Content></xml>", "1409659813", "1372623149");
        var doc = System.Xml.Linq.XDocument.Parse(reply);
        var root = doc.Root!;
        var encrypt = root.Element("Encrypt")!.Value;
        Assert.Multiple(() =>
        {
            Assert.That(root.Name.LocalName, Is.EqualTo("xml"));
            Assert.That(root.Elements().Select(e => e.Name.LocalName), Is.EqualTo(new[] { "Encrypt", "MsgSignature", "TimeStamp", "Nonce" }));
            Assert.That(root.Element("TimeStamp")!.Value, Is.EqualTo("1409659813"));
            Assert.That(root.Element("Nonce")!.Value, Is.EqualTo("1372623149"));
            Assert.That(root.Element("MsgSignature")!.Value, Is.EqualTo(crypto.Sign("1409659813", "1372623149", encrypt)));
            Assert.That(crypto.TryDecrypt(encrypt, out var plaintext), Is.EqualTo(CallbackRejection.None));
            Assert.That(plaintext, Is.EqualTo("<xml><Content>hi</Content></xml>"));
        });
    }

    [TestCase("short")]
    [TestCase("jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C=")]
    [TestCase("jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2!")]
    public void A_key_that_is_not_43_base64_characters_is_refused_at_construction(string key)
    {
        Assert.Throws<ArgumentException>(() => _ = new CallbackCrypto("token", key, CorpId));
    }

    // random16 | length | message | receiveId | 32-byte PKCS#7 pad, built without the code under test.
    private static byte[] Frame(string message, string receiveId, int totalLength)
    {
        var msg = Encoding.UTF8.GetBytes(message);
        var id = Encoding.UTF8.GetBytes(receiveId);
        var frame = new byte[totalLength];
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(16, 4), (uint)msg.Length);
        msg.CopyTo(frame, 20);
        id.CopyTo(frame, 20 + msg.Length);
        var pad = totalLength - (20 + msg.Length + id.Length);
        frame.AsSpan(totalLength - pad).Fill((byte)pad);
        return frame;
    }
}
