using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Bot.Core.WeCom;

/// <summary>The `WeCom` configuration section: the self-built app's identity and callback secrets.</summary>
public sealed class WeComOptions : IValidatableObject
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

    /// <summary>
    /// The intelligent robot's own callback Token (set on the robot's "API mode" page, separately from the app's);
    /// empty means the robot was given the app's Token. Never logged.
    /// </summary>
    public string RobotToken { get; set; } = "";

    /// <summary>The intelligent robot's own EncodingAESKey; empty means the app's. Set both robot values or neither.</summary>
    [EncodingAesKey]
    public string RobotEncodingAesKey { get; set; } = "";

    [Required]
    [Url]
    public string ApiBaseUrl { get; set; } = "https://qyapi.weixin.qq.com/cgi-bin/";

    /// <summary>How far a callback's timestamp may be from our clock before it is refused as a replay.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan CallbackTimestampWindow { get; set; } = TimeSpan.FromSeconds(600);

    /// <summary>Largest callback body accepted; larger bodies get 413 before any work is done.</summary>
    [Range(1024, 16 * 1024 * 1024)]
    public int MaxCallbackBodyBytes { get; set; } = 64 * 1024;

    /// <summary>The robot's callback Token and EncodingAESKey: its own when configured, else the app's.</summary>
    internal (string Token, string EncodingAesKey) RobotSecrets() =>
        RobotToken.Length > 0 ? (RobotToken, RobotEncodingAesKey) : (Token, EncodingAesKey);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (string.IsNullOrEmpty(RobotToken) != string.IsNullOrEmpty(RobotEncodingAesKey))
        {
            // Half a pair would check the robot's signature with one secret and decrypt with the other's.
            yield return new ValidationResult(
                $"WeCom:{nameof(RobotToken)} and WeCom:{nameof(RobotEncodingAesKey)} must be set together, or both left empty.",
                [nameof(RobotToken), nameof(RobotEncodingAesKey)]);
        }
    }
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
