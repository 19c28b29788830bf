using Bot.Core.Observability;
using Bot.Core.Redis;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Bot.Core.WeCom.Api;

public static class WeComApiServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="WeComApiClient"/> (typed HttpClient, base address `WeCom:ApiBaseUrl`), the `WeComApi`
    /// options, the access-token cache (shared through Redis when `Redis:Configuration` is set), metrics and the
    /// `wecom-api` health check.
    /// </summary>
    public static IHostApplicationBuilder AddWeComApi(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        builder.AddRedis();
        services.TryAddSingleton(TimeProvider.System);
        services.AddOptionsWithValidateOnStart<WeComOptions, WeComOptionsValidator>().BindConfiguration(WeComOptions.Section);
        services.AddOptionsWithValidateOnStart<WeComApiOptions, WeComApiOptionsValidator>().BindConfiguration(WeComApiOptions.Section);

        services.AddBotMetrics();
        services.TryAddSingleton<WeComApiHealth>();
        services.TryAddSingleton<WeComApiResilience>();
        services.TryAddSingleton<WeComApiCaller>();
        services.TryAddSingleton<AccessTokenFetcher>();
        var redis = builder.Configuration.GetSection(RedisOptions.Section).Get<RedisOptions>() ?? new RedisOptions();
        if (redis.Enabled)
        {
            services.TryAddSingleton<IAccessTokenStore, RedisAccessTokenStore>();
        }
        else
        {
            services.TryAddSingleton<IAccessTokenStore, InMemoryAccessTokenStore>();
        }
        services.TryAddSingleton<AccessTokenCache>();
        services.AddHealthChecks().AddCheck<WeComApiHealthCheck>("wecom-api", tags: ["ready"]);

        services.AddHttpClient(WeComApiClient.HttpClientName, static (sp, http) =>
            {
                var baseUrl = sp.GetRequiredService<IOptions<WeComOptions>>().Value.ApiBaseUrl;
                http.BaseAddress = new Uri(baseUrl.EndsWith('/') ? baseUrl : baseUrl + "/");
                // Each attempt has its own timeout in the resilience pipeline.
                http.Timeout = Timeout.InfiniteTimeSpan;
            })
            // The client is held by singletons, so the factory's handler rotation never reaches it. The connection pool
            // rotates instead: a connection older than PooledConnectionLifetime is replaced, so a changed DNS answer
            // for the API host is seen within that time.
            .UseSocketsHttpHandler(static (handler, sp) =>
                handler.PooledConnectionLifetime = sp.GetRequiredService<IOptions<WeComApiOptions>>().Value.PooledConnectionLifetime)
            .SetHandlerLifetime(Timeout.InfiniteTimeSpan)
            // The default handlers log request URLs, and every WeCom URL carries a credential in its query string.
            .RemoveAllLoggers()
            .AddTypedClient(static (http, sp) => new WeComApiClient(
                http,
                sp.GetRequiredService<WeComApiCaller>(),
                sp.GetRequiredService<AccessTokenCache>(),
                sp.GetRequiredService<IOptions<WeComOptions>>()));
        return builder;
    }
}
