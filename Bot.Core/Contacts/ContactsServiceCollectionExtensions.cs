using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace Bot.Core.Contacts;

public static class ContactsServiceCollectionExtensions
{
    /// <summary>
    /// Registers customer opt-out storage, the customer ledger (follows and tags) and the contact budget, with their settings. <c>AddOutbox</c>, whose
    /// dispatcher enforces both, registers them too: calling either or both, in any order, registers them once.
    /// Needs <c>AddStorage</c>.
    /// </summary>
    public static IHostApplicationBuilder AddContacts(this IHostApplicationBuilder builder)
    {
        builder.Services.TryAddContacts();
        return builder;
    }

    internal static IServiceCollection TryAddContacts(this IServiceCollection services)
    {
        // The settings are bound once: a second binding would validate, and report, every setting twice.
        if (services.Any(d => d.ServiceType == typeof(ContactBudget)))
        {
            return services;
        }
        services.AddOptionsWithValidateOnStart<ContactPreferencesOptions, ContactPreferencesOptionsValidator>().BindConfiguration(ContactPreferencesOptions.Section);
        services.AddOptionsWithValidateOnStart<ContactBudgetOptions, ContactBudgetOptionsValidator>().BindConfiguration(ContactBudgetOptions.Section);
        services.TryAddSingleton<ContactPreferenceStore>();
        services.TryAddSingleton<ContactBudget>();
        services.TryAddSingleton<CustomerLedger>();
        return services;
    }
}
