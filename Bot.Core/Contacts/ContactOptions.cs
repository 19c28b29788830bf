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

/// <summary>
/// The `ContactBudget` section: at most <see cref="PerCustomerPerWeek"/> bot-originated messages (mass messages to a
/// customer, i.e. broadcasts) per customer per calendar week in the quota time zone. Welcomes and replies to the
/// customer's own messages are not counted. An item over budget waits for the next week; it is not dropped.
/// </summary>
public sealed class ContactBudgetOptions
{
    public const string Section = "ContactBudget";

    /// <summary>The quota rule the budget becomes; `Quotas:Rules:contact-budget` replaces it entirely.</summary>
    public const string QuotaRuleName = "contact-budget";

    [Range(1, 1000)]
    public int PerCustomerPerWeek { get; set; } = 3;
}

[OptionsValidator]
internal sealed partial class ContactPreferencesOptionsValidator : IValidateOptions<ContactPreferencesOptions>;

[OptionsValidator]
internal sealed partial class ContactBudgetOptionsValidator : IValidateOptions<ContactBudgetOptions>;
