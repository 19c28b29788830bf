using System.Buffers;
using System.Buffers.Binary;
using System.Security;
using System.Security.Cryptography;
using System.Text;

namespace Bot.Core.WeCom.Callbacks;

/// <summary>
/// WeCom's callback cipher (WXBizMsgCrypt): msg_signature, AES-256-CBC with 32-byte PKCS#7 padding, and the
/// random16 | length | message | receiveId frame. Thread-safe; holds only immutable key material.
/// </summary>
public sealed class CallbackCrypto
{
    private const int RandomLength = 16;
    private const int LengthFieldSize = 4;
    private const int HeaderLength = RandomLength + LengthFieldSize;
    // WeCom pads to 32 bytes, not the AES block size: pad values run 1..32 (FACTS §1.1, §1.8.2).
    private const int PadBlock = 32;
    private const int AesBlock = 16;
    private const int StackLimit = 512;

    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);

    private readonly string _token;
    private readonly byte[] _key;
    private readonly byte[] _receiveId;

    public CallbackCrypto(string token, string encodingAesKey, string receiveId)
    {
        ArgumentException.ThrowIfNullOrEmpty(token);
        ArgumentNullException.ThrowIfNull(encodingAesKey);
        ArgumentNullException.ThrowIfNull(receiveId);
        _key = new byte[33];
        if (encodingAesKey.Length != 43
            || !Convert.TryFromBase64String(encodingAesKey + "=", _key, out var written)
            || written != 32)
        {
            throw new ArgumentException("The EncodingAESKey must be 43 Base64 characters that decode to 32 bytes.", nameof(encodingAesKey));
        }
        Array.Resize(ref _key, 32);
        _token = token;
        _receiveId = Utf8.GetBytes(receiveId);
    }

    private ReadOnlySpan<byte> Iv => _key.AsSpan(0, AesBlock);

    /// <summary>Lower-case hex SHA-1 of token, timestamp, nonce and encrypt, sorted ordinally and joined without separator.</summary>
    public string Sign(string timestamp, string nonce, string encrypt)
    {
        Span<byte> hash = stackalloc byte[SHA1.HashSizeInBytes];
        ComputeSignature(timestamp, nonce, encrypt, hash);
        return Convert.ToHexStringLower(hash);
    }

    /// <summary>Compares a received msg_signature with ours in constant time; null, empty or non-hex never matches.</summary>
    public bool SignatureMatches(string? signature, string timestamp, string nonce, string encrypt)
    {
        if (signature is not { Length: SHA1.HashSizeInBytes * 2 })
        {
            return false;
        }
        Span<byte> received = stackalloc byte[SHA1.HashSizeInBytes];
        if (Convert.FromHexString(signature, received, out _, out var written) != OperationStatus.Done
            || written != received.Length)
        {
            return false;
        }
        Span<byte> expected = stackalloc byte[SHA1.HashSizeInBytes];
        ComputeSignature(timestamp, nonce, encrypt, expected);
        return CryptographicOperations.FixedTimeEquals(expected, received);
    }

    private void ComputeSignature(string timestamp, string nonce, string encrypt, Span<byte> hash)
    {
        ArgumentNullException.ThrowIfNull(timestamp);
        ArgumentNullException.ThrowIfNull(nonce);
        ArgumentNullException.ThrowIfNull(encrypt);
        // Ordinal, never culture-sensitive: culture sorting yields a different signature (FACTS §1.8.3, vector V7).
        Span<string> parts = [_token, timestamp, nonce, encrypt];
        parts.Sort(StringComparer.Ordinal);
        var length = 0;
        foreach (var part in parts)
        {
            length += Utf8.GetByteCount(part);
        }
        byte[]? rented = null;
        Span<byte> buffer = length <= StackLimit ? stackalloc byte[StackLimit] : (rented = ArrayPool<byte>.Shared.Rent(length));
        var at = 0;
        foreach (var part in parts)
        {
            at += Utf8.GetBytes(part, buffer[at..]);
        }
        SHA1.HashData(buffer[..at], hash);
        if (rented is not null)
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>
    /// Decrypts a Base64 Encrypt/echostr and checks its frame and receiveId. Call only after the signature matched:
    /// the distinct reasons would otherwise be a padding oracle.
    /// </summary>
    public CallbackRejection TryDecrypt(string encrypt, out string plaintext)
    {
        ArgumentNullException.ThrowIfNull(encrypt);
        plaintext = "";
        var maxBytes = (encrypt.Length / 4 + 1) * 3;
        var buffer = ArrayPool<byte>.Shared.Rent(maxBytes);
        try
        {
            if (!Convert.TryFromBase64String(encrypt, buffer, out var length))
            {
                return CallbackRejection.BadBase64;
            }
            if (length == 0 || length % AesBlock != 0)
            {
                return CallbackRejection.BadPadding;
            }
            var data = buffer.AsSpan(0, length);
            using (var aes = Aes.Create())
            {
                aes.SetKey(_key);
                aes.DecryptCbc(data, Iv, data, PaddingMode.None);
            }

            int pad = data[^1];
            if (pad is < 1 or > PadBlock || pad > length || data[^pad..].ContainsAnyExcept((byte)pad))
            {
                return CallbackRejection.BadPadding;
            }
            var frame = data[..^pad];
            if (frame.Length < HeaderLength)
            {
                return CallbackRejection.MalformedEnvelope;
            }
            var messageLength = BinaryPrimitives.ReadUInt32BigEndian(frame.Slice(RandomLength, LengthFieldSize));
            if (messageLength > (uint)(frame.Length - HeaderLength))
            {
                return CallbackRejection.MalformedEnvelope;
            }
            var message = frame.Slice(HeaderLength, (int)messageLength);
            var receiveId = frame[(HeaderLength + (int)messageLength)..];
            if (!receiveId.SequenceEqual(_receiveId))
            {
                return CallbackRejection.ForeignReceiveId;
            }
            plaintext = Utf8.GetString(message);
            return CallbackRejection.None;
        }
        finally
        {
            // The buffer held a customer's decrypted message.
            ArrayPool<byte>.Shared.Return(buffer, clearArray: true);
        }
    }

    /// <summary>Encrypts with fresh random bytes from the system CSPRNG.</summary>
    public string Encrypt(string plaintext)
    {
        Span<byte> random = stackalloc byte[RandomLength];
        RandomNumberGenerator.Fill(random);
        return Encrypt(plaintext, random);
    }

    /// <summary>Encrypts with the given 16 leading bytes; deterministic, for tests and vectors.</summary>
    public string Encrypt(string plaintext, ReadOnlySpan<byte> random16)
    {
        ArgumentNullException.ThrowIfNull(plaintext);
        if (random16.Length != RandomLength)
        {
            throw new ArgumentException("Exactly 16 random bytes are required.", nameof(random16));
        }
        var messageLength = Utf8.GetByteCount(plaintext);
        var frameLength = HeaderLength + messageLength + _receiveId.Length;
        var pad = PadBlock - frameLength % PadBlock;
        var total = frameLength + pad;
        var buffer = ArrayPool<byte>.Shared.Rent(total);
        try
        {
            var data = buffer.AsSpan(0, total);
            random16.CopyTo(data);
            BinaryPrimitives.WriteUInt32BigEndian(data.Slice(RandomLength, LengthFieldSize), (uint)messageLength);
            Utf8.GetBytes(plaintext, data.Slice(HeaderLength, messageLength));
            _receiveId.CopyTo(data[(HeaderLength + messageLength)..]);
            data[frameLength..].Fill((byte)pad);
            using (var aes = Aes.Create())
            {
                aes.SetKey(_key);
                aes.EncryptCbc(data, Iv, data, PaddingMode.None);
            }
            return Convert.ToBase64String(data);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer, clearArray: true);
        }
    }

    /// <summary>
    /// The encrypted passive reply body. WeCom allows reusing the request's timestamp and nonce (FACTS §1.5).
    /// </summary>
    public string PassiveReply(string plaintext, string timestamp, string nonce)
    {
        var encrypt = Encrypt(plaintext);
        var signature = Sign(timestamp, nonce, encrypt);
        // Encrypt is Base64 and the signature hex, so CDATA is safe for both; timestamp and nonce are escaped text.
        return $"<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt><MsgSignature><![CDATA[{signature}]]></MsgSignature>"
            + $"<TimeStamp>{SecurityElement.Escape(timestamp)}</TimeStamp><Nonce>{SecurityElement.Escape(nonce)}</Nonce></xml>";
    }
}
