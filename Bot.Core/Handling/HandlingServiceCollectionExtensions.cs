using Bot.Core.Campaigns.Preflight;
using Bot.Core.Campaigns;
using Bot.Core.Contacts;
using Bot.Core.Groups;
using Bot.Core.Campaigns.Lottery;
using Bot.Core.Outbox;
using Bot.Core.Campaigns.Seeding;
using Bot.Core.WeCom.Api;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace Bot.Core.Handling;

public static class HandlingServiceCollectionExtensions
{
    /// <summary>How a lottery announcement names a winner who opted out of bot messages.</summary>
    public const string UnnamedWinner = "一位幸运顾客";

    /// <summary>
    /// Joins the capabilities: stored callbacks go through the rules into the outbox, the outbox sends through the
    /// WeCom client, and lottery draws and seeding posts reach the outbox. Call after every other AddXxx, so the rule
    /// sync starts after the rules have loaded and the schema is migrated.
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
        services.TryAddSingleton<CampaignOutbound>();
        services.TryAddSingleton<CampaignPreflight>();
        services.Replace(ServiceDescriptor.Singleton<Func<LotteryDrawResult, CancellationToken, Task>>(
            sp => sp.GetRequiredService<CampaignOutbound>().AnnounceAsync));
        services.Replace(ServiceDescriptor.Singleton<SeedingPostSink>(sp => sp.GetRequiredService<CampaignOutbound>().PostSeedingAsync));
        services.Replace(ServiceDescriptor.Singleton<LotteryWinnerNames>(sp =>
        {
            var directory = sp.GetRequiredService<WeComDirectory>();
            var preferences = sp.GetRequiredService<ContactPreferenceStore>();
            return async (ids, ct) =>
            {
                var names = new Dictionary<string, string>(StringComparer.Ordinal);
                foreach (var id in ids)
                {
                    try
                    {
                        // A winner who opted out still wins (the draw is verifiable as drawn), but the group post
                        // does not name them: it would be a message about them, as a group welcome's names are.
                        names[id] = await preferences.IsOptedOutAsync(id, ct)
                            ? UnnamedWinner
                            : (await directory.GetCustomerAsync(id, ct)).Contact.Name;
                    }
                    catch (WeComApiException)
                    {
                        // The announcement falls back to the id for a customer we cannot look up.
                    }
                }
                return names;
            };
        }));
        services.AddHostedService<CampaignRuleSync>();
        return builder;
    }
}
