using Bot.Core.Observability;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace Bot.Core.Rules;

public static class RulesServiceCollectionExtensions
{
    /// <summary>Rule files from `Rules:Path`, hot-reloaded; the host refuses to start while they have errors.</summary>
    public static IHostApplicationBuilder AddRules(this IHostApplicationBuilder builder)
    {
        builder.Services.AddRulesOptions();
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddBotMetrics();
        builder.Services.TryAddSingleton<RuleSetProvider>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<RuleSetProvider>());
        builder.Services.TryAddSingleton<RulePlanner>();
        return builder;
    }

    /// <summary>The `Rules` section, validated; also for the CLI verbs that load rule files without the provider.</summary>
    internal static void AddRulesOptions(this IServiceCollection services) =>
        services.AddOptionsWithValidateOnStart<RulesOptions, RulesOptionsValidator>().BindConfiguration(RulesOptions.Section);
}
