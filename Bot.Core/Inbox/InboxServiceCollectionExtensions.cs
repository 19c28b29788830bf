using Bot.Core.Observability;
using Bot.Core.Handling;
using Bot.Core.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using System.Diagnostics.Metrics;

namespace Bot.Core.Inbox;

public static class InboxServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="InboxWriter"/> (group commit, hosted so that shutdown drains it), <see cref="InboxStore"/>
    /// the inbox worker and the purger of handled callbacks past retention. Needs <c>AddStorage()</c>; handlers are
    /// registered as singleton <see cref="ICallbackHandler"/>.
    /// </summary>
    public static IHostApplicationBuilder AddInbox(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptionsWithValidateOnStart<InboxOptions, InboxOptionsValidator>().BindConfiguration(InboxOptions.Section);
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<InboxSignal>();
        services.AddBotMetrics();
        services.TryAddSingleton(sp => new InboxWriter(
            sp.GetRequiredService<BotDatabase>(),
            sp.GetRequiredService<IOptions<InboxOptions>>(),
            sp.GetRequiredService<InboxSignal>(),
            sp.GetRequiredService<BotMetrics>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<InboxWriter>>()));
        services.TryAddSingleton(sp => new InboxStore(
            sp.GetRequiredService<BotDatabase>(),
            sp.GetRequiredService<InboxSignal>(),
            sp.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton(sp => new InboxWorker(
            sp.GetRequiredService<InboxStore>(),
            sp.GetRequiredService<InboxSignal>(),
            sp.GetRequiredService<BotMetrics>(),
            sp.GetServices<ICallbackHandler>(),
            sp.GetRequiredService<IOptions<InboxOptions>>(),
            sp.GetRequiredService<TimeProvider>(),
            Random.Shared.NextDouble,
            sp.GetRequiredService<ILogger<InboxWorker>>()));
        services.TryAddSingleton<InboxPurger>();
        // Hosted services stop in reverse order: the worker first, then the writer drains what requests queued.
        services.AddHostedService(sp => sp.GetRequiredService<InboxWriter>());
        services.AddHostedService(sp => sp.GetRequiredService<InboxWorker>());
        services.AddHostedService(sp => sp.GetRequiredService<InboxPurger>());
        return builder;
    }
}
