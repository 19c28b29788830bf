using Bot.Core.RateLimiting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Bot.Core.Contacts;

public static class ContactsServiceCollectionExtensions
{
    /// <summary>
    /// Registers customer opt-out storage and the contact budget (a quota rule). Called by <c>AddOutbox</c>, which
    /// enforces both; needs <c>AddStorage</c>.
    /// </summary>
    public static IHostApplicationBuilder AddContacts(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptionsWithValidateOnStart<ContactPreferencesOptions, ContactPreferencesOptionsValidator>().BindConfiguration(ContactPreferencesOptions.Section);
        services.AddOptionsWithValidateOnStart<ContactBudgetOptions, ContactBudgetOptionsValidator>().BindConfiguration(ContactBudgetOptions.Section);
        services.TryAddSingleton<ContactPreferenceStore>();
        // The budget is one more quota rule, so the limiter (shared in Redis) enforces it across instances and
        // over-budget items wait like any other quota-limited item. A configured rule of the same name wins.
        services.AddOptions<QuotaOptions>().PostConfigure<IOptions<ContactBudgetOptions>>((quotas, budget) =>
            quotas.Rules.TryAdd(ContactBudgetOptions.QuotaRuleName, new QuotaRuleOptions
            {
                Key = "{customer}",
                Limit = budget.Value.PerCustomerPerWeek,
                Window = "Week",
                Apis = [QuotaRules.AddMsgTemplate],
            }));
        return builder;
    }
}
