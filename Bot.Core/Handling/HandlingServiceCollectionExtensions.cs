using Bot.Core.Groups;
using Bot.Core.Outbox;
using Bot.Core.WeCom.Api;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace Bot.Core.Handling;

public static class HandlingServiceCollectionExtensions
{
    /// <summary>
    /// Joins the capabilities: stored callbacks go through the rules into the outbox, and the outbox sends through the
    /// WeCom client. (Lottery draws and seeding posts reach the outbox through <c>AddCampaigns</c>.)
    /// </summary>
    public static IHostApplicationBuilder AddHandling(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddMemoryCache();
        services.AddOptionsWithValidateOnStart<HandlingOptions, HandlingOptionsValidator>().BindConfiguration(HandlingOptions.Section);
        services.AddHttpClient(WeComOutboxSender.ResponseUrlClient, client => client.Timeout = TimeSpan.FromSeconds(10));
        services.TryAddSingleton<WeComDirectory>();
        services.TryAddSingleton<GroupWelcomeBatches>();
        services.TryAddSingleton<CustomerGroupStore>();
        services.TryAddSingleton<NameLookup>();
        services.TryAddSingleton<IOutboxSender, WeComOutboxSender>();
        services.TryAddSingleton<ContactAddedHandler>();
        services.TryAddSingleton<MessageHandler>();
        services.TryAddSingleton<GroupEventsHandler>();
        services.AddSingleton<ICallbackHandler, CallbackDispatcher>();
        return builder;
    }
}
