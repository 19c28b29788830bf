using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Bot.Core.Contacts;

/// <summary>The `ContactPreferences` section: the words a customer sends to stop or resume bot messages.</summary>
public sealed class ContactPreferencesOptions
{
    public const string Section = "ContactPreferences";

    /// <summary>A customer message that is exactly this (trimmed) opts the customer out.</summary>
    [Required]
    [MaxLength(32)]
    public string OptOutKeyword { get; set; } = "退订";

    /// <summary>A customer message that is exactly this (trimmed) opts the customer back in.</summary>
    [Required]
    [MaxLength(32)]
    public string OptInKeyword { get; set; } = "订阅";

    [Required]
    public string OptOutReply { get; set; } = "已为您退订，之后不再主动给您发消息。回复「订阅」可恢复。";

    [Required]
    public string OptInReply { get; set; } = "已为您恢复订阅。回复「退订」可随时退订。";
}

/// <summary>What happens to an item that would go over a contact budget.</summary>
public enum OverBudget
{
    /// <summary>It waits for the next calendar week, when the budget starts again.</summary>
    Wait,

    /// <summary>It is not sent: it ends Failed with the reason "over contact budget", in explain and the admin views.</summary>
    Drop,

    /// <summary>The kind does not spend the budget at all (how configuration takes a default kind out).</summary>
    Exempt,
}

/// <summary>
/// The `ContactBudget` section: at most <see cref="PerCustomerPerWeek"/> bot-originated messages per customer and
/// <see cref="PerGroupPerWeek"/> per customer group, per calendar week (Monday first) in the quota time zone, shared by
/// every outbound kind listed in <see cref="Kinds"/> and enforced by the shared limiter across instances.
/// </summary>
public sealed class ContactBudgetOptions : IValidatableObject
{
    public const string Section = "ContactBudget";

    /// <summary>The quota rule name of the per-customer budget, as reported by pre-flight, explain and metrics.</summary>
    public const string CustomerRule = "contact-budget";

    /// <summary>The quota rule name of the per-group budget.</summary>
    public const string GroupRule = "group-contact-budget";

    [Range(1, 1000)]
    public int PerCustomerPerWeek { get; set; } = 3;

    [Range(1, 1000)]
    public int PerGroupPerWeek { get; set; } = 7;

    /// <summary>
    /// The outbound kinds (as the outbox stores them) that spend the budget, each with what happens over budget. The
    /// defaults are the messages the bot starts on its own (the outbox's kinds declare the same, and its validation
    /// checks every key names one of them); answers to something the customer just did (a welcome, a keyword reply, a
    /// group welcome, a tag) are not counted unless listed here. Configuration adds to or overrides these entries;
    /// <see cref="OverBudget.Exempt"/> takes one out.
    /// </summary>
    public Dictionary<string, OverBudget> Kinds { get; set; } = new(StringComparer.Ordinal)
    {
        [BroadcastKind] = OverBudget.Wait,
        [SeedingPostKind] = OverBudget.Wait,
        [LotteryAnnouncementKind] = OverBudget.Wait,
    };

    // The stored kind names; Contacts sits below the outbox and names its kinds as plain strings.
    internal const string BroadcastKind = "broadcast", SeedingPostKind = "seeding_post", LotteryAnnouncementKind = "lottery_announcement";

    // The welcome answers the customer adding a guide within WeCom's 20 s, and the confirmation of 退订/订阅 answers
    // their own request: neither ever waits on a budget.
    internal static readonly string[] NeverBudgeted = ["welcome", "preference_reply"];

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var kind in Kinds.Keys.Where(k => NeverBudgeted.Contains(k, StringComparer.Ordinal)))
        {
            yield return new ValidationResult($"ContactBudget:Kinds:{kind} cannot be budgeted.", [nameof(Kinds)]);
        }
    }
}

[OptionsValidator]
internal sealed partial class ContactPreferencesOptionsValidator : IValidateOptions<ContactPreferencesOptions>;

[OptionsValidator]
internal sealed partial class ContactBudgetOptionsValidator : IValidateOptions<ContactBudgetOptions>;
