using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace Bot.Core.Contacts;

public static class ContactsServiceCollectionExtensions
{
    /// <summary>
    /// Registers customer opt-out storage and the contact budget. Called by <c>AddOutbox</c>, whose dispatcher
    /// enforces both; needs <c>AddStorage</c>.
    /// </summary>
    public static IHostApplicationBuilder AddContacts(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptionsWithValidateOnStart<ContactPreferencesOptions, ContactPreferencesOptionsValidator>().BindConfiguration(ContactPreferencesOptions.Section);
        services.AddOptionsWithValidateOnStart<ContactBudgetOptions, ContactBudgetOptionsValidator>().BindConfiguration(ContactBudgetOptions.Section);
        services.TryAddSingleton<ContactPreferenceStore>();
        services.TryAddSingleton<ContactBudget>();
        return builder;
    }
}
