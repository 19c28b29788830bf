using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace Bot.Core.WeCom.Callbacks;

public static class WeComCallbacksServiceCollectionExtensions
{
    /// <summary>Binds and validates the `WeCom` section at start-up and registers <see cref="CallbackVerifier"/>.</summary>
    public static IHostApplicationBuilder AddWeComCallbacks(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptionsWithValidateOnStart<WeComOptions, WeComOptionsValidator>()
            .BindConfiguration(WeComOptions.Section);
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.TryAddSingleton<CallbackVerifier>();
        return builder;
    }
}
