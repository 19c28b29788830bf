using Bot.Core.Outbox;
using Bot.Core.Campaigns.MassMessages;
using Bot.Core.RateLimiting;
using Bot.Core.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Microsoft.SqlServer.TransactSql.ScriptDom;

namespace Bot.Tests.Outbox;

public sealed class OutboxRegistrationTests
{
    private static HostApplicationBuilder Builder(params (string Key, string Value)[] settings)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value)));
        builder.AddStorage();
        builder.AddOutbox();
        builder.Services.AddSingleton<IOutboxSender>(new RecordingSender(TimeProvider.System));
        builder.Services.AddSingleton<IQuotaLimiter>(new TestQuotaLimiter(TimeProvider.System));
        builder.Services.AddSingleton<QuotaCatalog>();
        return builder;
    }

    [Test]
    public void The_dispatcher_is_one_singleton_that_is_also_the_hosted_service()
    {
        using var host = Builder().Build();

        var dispatcher = host.Services.GetRequiredService<OutboxDispatcher>();
        var hosted = host.Services.GetServices<IHostedService>().OfType<OutboxDispatcher>().ToList();

        Assert.That(hosted, Has.Count.EqualTo(1));
        Assert.That(hosted[0], Is.SameAs(dispatcher));
        // One writer per host: a second instance would batch on its own (one broadcast service: CampaignRegistrationTests).
        Assert.That(host.Services.GetRequiredService<OutboxWriter>(), Is.SameAs(host.Services.GetRequiredService<OutboxWriter>()));
        Assert.That(host.Services.GetRequiredService<IOptions<OutboxOptions>>().Value.DispatcherConcurrency, Is.EqualTo(32));
    }

    [TestCase("Outbox:DispatcherConcurrency", "0", "DispatcherConcurrency")]
    [TestCase("Outbox:LeaseDuration", "00:00:00", "LeaseDuration")]
    [TestCase("Outbox:MaxAttempts", "0", "MaxAttempts")]
    public void An_invalid_outbox_setting_stops_start_up_and_names_the_key(string key, string value, string named)
    {
        using var host = Builder((key, value), ("ConnectionStrings:Bot", $"Data Source={Path.GetTempPath()}/outbox-options-{Guid.NewGuid():N}.db")).Build();

        var error = Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.That(error!.Message, Does.Contain(named));
    }

    [Test]
    public void The_sql_server_outbox_statements_and_migration_parse_as_t_sql()
    {
        var statements = new[] { typeof(OutboxSqlServerStatements), typeof(BroadcastSqlServerStatements) }
            .SelectMany(t => t.GetFields(System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.NonPublic))
            .Where(f => f.IsLiteral && f.FieldType == typeof(string))
            .Select(f => (Name: f.Name, Sql: (string)f.GetRawConstantValue()!))
            .ToList();
        var migration = MigrationRunner.Load(StorageProvider.SqlServer).Single(m => m.Name == "0002_outbox.sql");
        statements.AddRange(MigrationRunner.SqlServerBatches(migration.Sql).Select(b => ("0002", b)));

        var errors = new List<string>();
        foreach (var (name, sql) in statements)
        {
            new TSql170Parser(initialQuotedIdentifiers: true).Parse(new StringReader(sql), out var parseErrors);
            errors.AddRange(parseErrors.Select(e => $"{name}: {e.Message} (line {e.Line})"));
        }

        Assert.That(statements, Has.Count.GreaterThan(5));
        Assert.That(errors, Is.Empty);
    }
}
