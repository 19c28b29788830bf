using Bot.Core.Storage;
using Dapper;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Bot.Web.Health;

internal sealed class DatabaseHealthCheck(BotDatabase database, SchemaState schema) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (!schema.IsMigrated)
        {
            return HealthCheckResult.Unhealthy("migrations not applied yet");
        }
        try
        {
            await using var connection = await database.OpenAsync(cancellationToken);
            await connection.ExecuteScalarAsync<int>(new CommandDefinition("SELECT 1", cancellationToken: cancellationToken));
            return HealthCheckResult.Healthy($"{database.Provider} reachable and migrated");
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return HealthCheckResult.Unhealthy($"{database.Provider} unreachable: {ex.GetType().Name}");
        }
    }
}
