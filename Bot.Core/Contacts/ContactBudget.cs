using Bot.Core.RateLimiting;
using Microsoft.Extensions.Options;

namespace Bot.Core.Contacts;

/// <summary>
/// The weekly contact budget as quota counters: one per customer and one per group an item reaches. They are taken in
/// the same all-or-nothing limiter decision as the item's API quotas, so a refused send spends no budget and every
/// instance shares one count through Redis.
/// </summary>
public sealed class ContactBudget(IOptions<ContactBudgetOptions> options)
{
    /// <summary>What happens to <paramref name="kind"/> over budget; null when the kind does not spend the budget.</summary>
    public OverBudget? PolicyFor(string kind) =>
        options.Value.Kinds.TryGetValue(kind, out var policy) && policy != OverBudget.Exempt ? policy : null;

    public static bool IsBudgetRule(string rule) => rule is ContactBudgetOptions.CustomerRule or ContactBudgetOptions.GroupRule;

    /// <summary>
    /// An outbound item's full set of counters: its quotas (<paramref name="quotas"/>) plus the budget it spends. The
    /// dispatcher and pre-flight both take their counters from here, so they pass an item through the same ones.
    /// <paramref name="targetIsGroup"/>: the target is a customer group even when the subject (a robot webhook) names
    /// no chat; the outbox's kinds say which.
    /// </summary>
    public IReadOnlyList<QuotaLimit> AddTo(
        IReadOnlyList<QuotaLimit> quotas, string kind, string target, bool targetIsGroup, string? externalUserId, QuotaSubject subject)
    {
        var budget = LimitsFor(kind, target, targetIsGroup, externalUserId, subject);
        return budget.Count == 0 ? quotas : [.. quotas, .. budget];
    }

    /// <summary>The budget counters an item of <paramref name="kind"/> to <paramref name="target"/> spends; empty when its kind is not budgeted.</summary>
    public IReadOnlyList<QuotaLimit> LimitsFor(string kind, string target, bool targetIsGroup, string? externalUserId, QuotaSubject subject)
    {
        if (PolicyFor(kind) is null)
        {
            return [];
        }
        var o = options.Value;
        var customers = new HashSet<string>(subject.ExternalUserIds ?? [], StringComparer.Ordinal);
        if (!string.IsNullOrEmpty(externalUserId))
        {
            customers.Add(externalUserId);
        }
        var chats = new HashSet<string>(subject.ChatIds ?? [], StringComparer.Ordinal);
        if (targetIsGroup && !string.IsNullOrEmpty(target))
        {
            chats.Add(target);
        }
        var limits = new List<QuotaLimit>(customers.Count + chats.Count);
        foreach (var customer in customers.Where(c => c.Length > 0).Order(StringComparer.Ordinal))
        {
            limits.Add(QuotaLimit.PerCalendar(new QuotaKey(ContactBudgetOptions.CustomerRule, customer), o.PerCustomerPerWeek, QuotaCalendar.Week));
        }
        foreach (var chat in chats.Where(c => c.Length > 0).Order(StringComparer.Ordinal))
        {
            limits.Add(QuotaLimit.PerCalendar(new QuotaKey(ContactBudgetOptions.GroupRule, chat), o.PerGroupPerWeek, QuotaCalendar.Week));
        }
        return limits;
    }
}
