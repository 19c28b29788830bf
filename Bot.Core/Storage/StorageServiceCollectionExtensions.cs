using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace Bot.Core.Storage;

public static class StorageServiceCollectionExtensions
{
    public static IHostApplicationBuilder AddStorage(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptionsWithValidateOnStart<StorageOptions, StorageOptionsValidator>()
            .BindConfiguration(StorageOptions.Section)
            .Configure(o =>
            {
                var connectionString = builder.Configuration.GetConnectionString("Bot");
                if (!string.IsNullOrWhiteSpace(connectionString))
                {
                    o.ConnectionString = connectionString;
                }
            });
        builder.Services.TryAddSingleton<BotDatabase>();
        builder.Services.TryAddSingleton<MigrationRunner>();
        builder.Services.TryAddSingleton<SchemaState>();
        // Hosted services start before Kestrel listens, so no request ever meets an unmigrated database.
        builder.Services.AddHostedService<MigrationHostedService>();
        return builder;
    }
}
