using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Bot.Core.Observability;

public static class ObservabilityServiceCollectionExtensions
{
    /// <summary>
    /// The one <see cref="BotMetrics"/>. Every capability that records calls this, so any subset of AddXxx, in any
    /// order, has its instruments.
    /// </summary>
    public static IServiceCollection AddBotMetrics(this IServiceCollection services)
    {
        services.AddMetrics();
        services.TryAddSingleton<BotMetrics>();
        return services;
    }
}
