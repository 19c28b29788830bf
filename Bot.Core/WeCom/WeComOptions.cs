using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Bot.Core.WeCom;

/// <summary>The `WeCom` configuration section: the self-built app's identity and callback secrets.</summary>
public sealed class WeComOptions
{
    public const string Section = "WeCom";

    /// <summary>The corp id; also the receiveId every self-built-app callback must carry.</summary>
    [Required]
    public string CorpId { get; set; } = "";

    [Required]
    public string AgentId { get; set; } = "";

    /// <summary>The app secret used by gettoken. Never logged.</summary>
    [Required]
    public string Secret { get; set; } = "";

    /// <summary>The callback token used in msg_signature. Never logged.</summary>
    [Required]
    public string Token { get; set; } = "";

    /// <summary>43 characters that Base64-decode (with a trailing '=') to the 32-byte AES key. Never logged.</summary>
    [Required]
    [EncodingAesKey]
    public string EncodingAesKey { get; set; } = "";

    [Required]
    [Url]
    public string ApiBaseUrl { get; set; } = "https://qyapi.weixin.qq.com/cgi-bin/";

    /// <summary>How far a callback's timestamp may be from our clock before it is refused as a replay.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan CallbackTimestampWindow { get; set; } = TimeSpan.FromSeconds(600);

    /// <summary>Largest callback body accepted; larger bodies get 413 before any work is done.</summary>
    [Range(1024, 16 * 1024 * 1024)]
    public int MaxCallbackBodyBytes { get; set; } = 64 * 1024;
}

/// <summary>Checks that an EncodingAESKey is 43 characters and decodes to exactly 32 bytes.</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class EncodingAesKeyAttribute : ValidationAttribute
{
    public EncodingAesKeyAttribute()
        : base("The field {0} must be 43 Base64 characters that decode to a 32-byte key.")
    {
    }

    public override bool IsValid(object? value)
    {
        if (value is not string { Length: 43 } key)
        {
            return value is null or "";
        }
        Span<byte> buffer = stackalloc byte[33];
        return Convert.TryFromBase64String(key + "=", buffer, out var written) && written == 32;
    }
}

[OptionsValidator]
internal sealed partial class WeComOptionsValidator : IValidateOptions<WeComOptions>;
