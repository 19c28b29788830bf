using Bot.Core.Storage;
using Dapper;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Bot.Host.Health;

/// <summary>
/// Ready while a callback could be stored: the schema is migrated and the inbox takes a write within
/// <see cref="HealthOptions.CheckTimeout"/>. A database that still answers reads but refuses writes (read-only, locked
/// by another process, out of space for the lock) would acknowledge nothing, so it leaves rotation.
/// </summary>
internal sealed class DatabaseHealthCheck(BotDatabase database, SchemaState schema, IOptions<HealthOptions> options, TimeProvider time) : IHealthCheck
{
    // Touches no row but takes the write lock (SQLite's reserved lock, SQL Server's intent locks), which a callback's
    // insert needs first.
    internal const string WriteProbeSql = "UPDATE inbox SET state = state WHERE id = -1";

    private readonly Lock _gate = new();
    private Task? _probe;

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (!schema.IsMigrated)
        {
            return HealthCheckResult.Unhealthy("migrations not applied yet");
        }
        var timeout = options.Value.CheckTimeout;
        try
        {
            await CurrentProbe().WaitAsync(timeout, time, cancellationToken);
            return HealthCheckResult.Healthy($"{database.Provider} migrated and writable");
        }
        catch (TimeoutException)
        {
            return HealthCheckResult.Unhealthy($"{database.Provider} took no write within {timeout.TotalMilliseconds:0} ms: callbacks cannot be stored");
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The type only: /readyz is public, and a driver's message may name servers or paths.
            return HealthCheckResult.Unhealthy($"{database.Provider} not writable: {ex.GetType().Name}");
        }
    }

    /// <summary>
    /// The probe in flight, or a new one. A probe stuck behind a lock keeps its thread (SQLite waits in its busy
    /// handler) until busy_timeout; later checks wait on that same probe instead of piling up more such threads.
    /// </summary>
    private Task CurrentProbe()
    {
        lock (_gate)
        {
            if (_probe is null || _probe.IsCompleted)
            {
                // Off the caller's thread: SQLite runs its "async" calls synchronously, and the check must answer on time.
                _probe = Task.Run(ProbeAsync);
            }
            return _probe;
        }
    }

    private async Task ProbeAsync()
    {
        // Queued with the acknowledging writers: the probe measures what a callback's store would wait for.
        await using var write = await database.OpenWriteAsync(CancellationToken.None, acknowledging: true);
        await write.Connection.ExecuteAsync(new CommandDefinition(WriteProbeSql));
    }
}
