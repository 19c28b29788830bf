using Bot.Core.Contacts;
using Bot.Core.Observability;
using Bot.Core.RateLimiting;
using Bot.Core.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Bot.Core.Outbox;

public static class OutboxServiceCollectionExtensions
{
    /// <summary>
    /// Registers the outbox store, writer and dispatcher. Needs <c>AddStorage</c>, an
    /// <see cref="IQuotaLimiter"/>, a <see cref="QuotaCatalog"/> and an <see cref="IOutboxSender"/> registered elsewhere.
    /// </summary>
    public static IHostApplicationBuilder AddOutbox(this IHostApplicationBuilder builder)
    {
        builder.Services.TryAddContacts();
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ContactBudgetOptions>, ContactBudgetKindsValidator>());
        builder.Services.AddOptionsWithValidateOnStart<OutboxOptions, OutboxOptionsValidator>().BindConfiguration(OutboxOptions.Section);
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddBotMetrics();
        builder.Services.TryAddSingleton<OutboxStore>();
        builder.Services.TryAddSingleton<RobotAlarms>();
        builder.Services.TryAddSingleton<OutboxSignal>();
        builder.Services.TryAddSingleton(sp => new OutboxWriter(
            sp.GetRequiredService<OutboxStore>(), sp.GetRequiredService<OutboxSignal>(), sp.GetRequiredService<TimeProvider>()));
        builder.Services.TryAddSingleton(sp => new OutboxDispatcher(
            sp.GetRequiredService<OutboxStore>(),
            sp.GetRequiredService<OutboxSignal>(),
            sp.GetRequiredService<IOutboxSender>(),
            sp.GetRequiredService<IQuotaLimiter>(),
            sp.GetRequiredService<QuotaCatalog>(),
            sp.GetRequiredService<IOptions<OutboxOptions>>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<OutboxDispatcher>>(),
            sp.GetRequiredService<BotMetrics>(),
            sp.GetRequiredService<ContactPreferenceStore>(),
            sp.GetRequiredService<ContactBudget>()));
        builder.Services.AddHostedService(sp => sp.GetRequiredService<OutboxDispatcher>());
        return builder;
    }
}
