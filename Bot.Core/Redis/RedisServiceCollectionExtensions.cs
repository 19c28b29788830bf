using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Bot.Core.Redis;

public static class RedisServiceCollectionExtensions
{
    /// <summary>
    /// Binds `Redis` and, when a configuration is set, registers one shared multiplexer. It is created lazily with
    /// abortConnect=false so a Redis outage at start-up degrades readiness instead of stopping the host.
    /// </summary>
    public static IHostApplicationBuilder AddRedis(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<RedisOptions>().BindConfiguration(RedisOptions.Section);
        var options = builder.Configuration.GetSection(RedisOptions.Section).Get<RedisOptions>() ?? new RedisOptions();
        if (options.Enabled)
        {
            builder.Services.TryAddSingleton<IConnectionMultiplexer>(sp =>
            {
                var configured = ConfigurationOptions.Parse(sp.GetRequiredService<IOptions<RedisOptions>>().Value.Configuration);
                configured.AbortOnConnectFail = false;
                return ConnectionMultiplexer.Connect(configured);
            });
        }
        return builder;
    }
}
