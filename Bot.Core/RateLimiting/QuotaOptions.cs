using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Bot.Core.RateLimiting;

/// <summary>How many mass messages (客户群发) one customer or customer group may receive; set per tenant in 群发助手.</summary>
public enum MassMessageReceivingRule
{
    /// <summary>1 per calendar day: WeCom's strictest setting and our default, since we cannot read the tenant's choice.</summary>
    OnePerDay,

    /// <summary>7 per calendar week.</summary>
    SevenPerWeek,

    /// <summary>As many per calendar month as the month has days (WeCom's default since doc 92135, 2025-11-17).</summary>
    DaysInMonthPerMonth,
}

/// <summary>
/// The `Quotas` section. Built-in rules (<see cref="QuotaRules"/>) apply unless `Quotas:Rules:NAME` replaces one
/// (the whole rule: Key, Limit, Window, Apis) or switches it off with `Enabled: false`.
/// </summary>
public sealed class QuotaOptions : IValidatableObject
{
    public const string Section = "Quotas";

    /// <summary>Time zone of calendar windows. WeCom counts natural days and months in China time.</summary>
    [Required]
    public string TimeZone { get; set; } = "Asia/Shanghai";

    public MassMessageReceivingRule MassMessageReceivingRule { get; set; } = MassMessageReceivingRule.OnePerDay;

    /// <summary>RetryAfter answered while the shared limiter (Redis) cannot be reached.</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:01:00")]
    public TimeSpan UnavailableRetryAfter { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Rules from configuration, by name; they replace the built-in rule of the same name.</summary>
    public Dictionary<string, QuotaRuleOptions> Rules { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The built-in rules overlaid with the configured ones, switched-off rules removed.</summary>
    internal IEnumerable<KeyValuePair<string, QuotaRuleOptions>> EffectiveRules()
    {
        foreach (var (name, rule) in QuotaRules.Defaults())
        {
            if (!Rules.ContainsKey(name))
            {
                yield return new(name, rule);
            }
        }
        foreach (var pair in Rules)
        {
            if (pair.Value.Enabled)
            {
                yield return pair;
            }
        }
    }

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!string.IsNullOrWhiteSpace(TimeZone) && !TimeZoneInfo.TryFindSystemTimeZoneById(TimeZone, out _))
        {
            yield return new ValidationResult($"Quotas:TimeZone '{TimeZone}' is not a known time zone.", [nameof(TimeZone)]);
        }
        var ruleValidator = new QuotaRuleOptionsValidator();
        foreach (var (name, rule) in Rules)
        {
            var result = ruleValidator.Validate($"{Section}:{nameof(Rules)}:{name}", rule);
            if (result.Failed)
            {
                foreach (var failure in result.Failures)
                {
                    yield return new ValidationResult(failure, [$"{Section}:{nameof(Rules)}:{name}"]);
                }
            }
        }
    }
}

/// <summary>One quota rule: a key pattern, a limit and a window, for some or all WeCom APIs.</summary>
public sealed class QuotaRuleOptions : IValidatableObject
{
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// The counter's subject, from placeholders {api}, {sender}, {chat}, {customer}, {robot} and {recipient}; e.g.
    /// "{sender}/{chat}". A subject lacking a placeholder's value is not counted by the rule; {chat} and {customer}
    /// give one counter per id.
    /// </summary>
    [Required]
    public string Key { get; set; } = "";

    /// <summary>Ignored when <see cref="Window"/> is "ReceivingRule".</summary>
    [Range(1, int.MaxValue)]
    public int Limit { get; set; } = 1;

    /// <summary>A sliding window ("00:01:00"), a calendar period ("Day", "Week", "Month"), or "ReceivingRule".</summary>
    [Required]
    public string Window { get; set; } = "";

    /// <summary>API paths (e.g. "message/send") the rule applies to; empty means every API.</summary>
    public string[] Apis { get; set; } = [];

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!string.IsNullOrEmpty(Window) && !QuotaRuleWindow.TryParse(Window, out _))
        {
            yield return new ValidationResult(
                $"Window '{Window}' must be a positive TimeSpan, Day, Week, Month or ReceivingRule.", [nameof(Window)]);
        }
        if (!string.IsNullOrEmpty(Key) && !QuotaKeyPattern.TryParse(Key, out _, out var error))
        {
            yield return new ValidationResult($"Key '{Key}': {error}", [nameof(Key)]);
        }
    }
}

[OptionsValidator]
internal sealed partial class QuotaOptionsValidator : IValidateOptions<QuotaOptions>;

[OptionsValidator]
internal sealed partial class QuotaRuleOptionsValidator : IValidateOptions<QuotaRuleOptions>;
