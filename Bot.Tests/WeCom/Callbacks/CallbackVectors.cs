using System.Security.Cryptography;
using System.Text.Json;
using Bot.Tests.Fixtures;

namespace Bot.Tests.WeCom.Callbacks;

/// <summary>One vector from shared/wecom/vectors (official samples and vectors made with WeCom's own library).</summary>
public sealed record CryptoVector(
    string? Id,
    string Token,
    string EncodingAesKey,
    string ReceiveId,
    string Timestamp,
    string Nonce,
    string RandomHex,
    string Plaintext,
    string Encrypt,
    string MsgSignature,
    int? Padding,
    string? ExpectReceiveIdMismatch)
{
    public override string ToString() => Id ?? $"pad{Padding}-{Timestamp}";

    public static IEnumerable<CryptoVector> Load(string file)
    {
        var json = File.ReadAllText(SharedFiles.Path("wecom", "vectors", file));
        return JsonSerializer.Deserialize<List<CryptoVector>>(json, JsonSerializerOptions.Web)!;
    }

    public static IEnumerable<TestCaseData> All() =>
        Load("crypto-vectors.json").Concat(Load("official-vectors.json"))
            .Select(v => new TestCaseData(v).SetArgDisplayNames(v.ToString()));
}

/// <summary>Raw AES access for crafting ciphertexts our own encoder would never produce.</summary>
internal static class RawCipher
{
    public static string Seal(string encodingAesKey, ReadOnlySpan<byte> frame)
    {
        var key = Convert.FromBase64String(encodingAesKey + "=");
        using var aes = Aes.Create();
        aes.Key = key;
        return Convert.ToBase64String(aes.EncryptCbc(frame, key.AsSpan(0, 16), PaddingMode.None));
    }

    public static byte[] Open(string encodingAesKey, string encrypt)
    {
        var key = Convert.FromBase64String(encodingAesKey + "=");
        using var aes = Aes.Create();
        aes.Key = key;
        return aes.DecryptCbc(Convert.FromBase64String(encrypt), key.AsSpan(0, 16), PaddingMode.None);
    }
}
