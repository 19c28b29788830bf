using Microsoft.Extensions.Hosting;

namespace Bot.Core.Storage;

/// <summary>Applies migrations at start-up and records that the schema is current, for /readyz.</summary>
internal sealed class MigrationHostedService(MigrationRunner runner, SchemaState state) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await runner.ApplyAsync(cancellationToken);
        state.MarkMigrated();
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>Whether this process has brought the schema up to date.</summary>
public sealed class SchemaState
{
    private volatile bool _migrated;

    public bool IsMigrated => _migrated;

    internal void MarkMigrated() => _migrated = true;
}
