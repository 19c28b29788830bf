using System.Reflection;
using Bot.Core.Campaigns.Lottery;
using Bot.Core.Campaigns.MassMessages;
using Bot.Core.Campaigns.Seeding;
using Bot.Core.Contacts;
using Bot.Core.Groups;
using Bot.Core.Inbox;
using Bot.Core.Outbox;
using Bot.Core.Storage;
using Microsoft.Extensions.Options;

namespace Bot.Tests.Storage;

/// <summary>
/// Stores pick the text of each dialect-specific statement once, when they are built. The T-SQL they pick must be a
/// [SqlServerStatements] constant, or the ScriptDom check never parses it; the SQLite they pick must not be.
/// </summary>
public sealed class SqlDialectTests
{
    // Building a store opens no connection, so a SQL Server database needs no server here.
    private static readonly Func<BotDatabase, object>[] Stores =
    [
        db => new InboxStore(db, new InboxSignal(), TimeProvider.System),
        db => new OutboxStore(db),
        db => new LotteryStore(db),
        db => new SeedingStore(db),
        db => new MassMessageStore(db),
        db => new BroadcastService(db, new OutboxWriter(new OutboxStore(db), new OutboxSignal(), TimeProvider.System), new BroadcastPlanner(new CustomerLedger(db), new CustomerGroupStore(db, TimeProvider.System)), TimeProvider.System),
        db => new ContactPreferenceStore(db),
        db => new CustomerGroupStore(db, TimeProvider.System),
        db => new GroupWelcomeBatches(db),
        db => new RobotAlarms(db),
        db => new CustomerLedger(db),
    ];

    [Test]
    public void Every_statement_picked_for_SqlServer_is_a_parsed_SqlServerStatements_constant()
    {
        var parsed = SqlServerConstants();
        var picked = PickedStatements(StorageProvider.SqlServer);

        Assert.That(picked, Is.Not.Empty);
        Assert.That(picked.Where(p => !parsed.Contains(p.Sql)).Select(p => p.Name), Is.Empty);
    }

    [Test]
    public void Every_statement_picked_for_Sqlite_is_its_SQLite_twin()
    {
        var parsed = SqlServerConstants();
        var picked = PickedStatements(StorageProvider.Sqlite);

        Assert.That(picked.Where(p => parsed.Contains(p.Sql)).Select(p => p.Name), Is.Empty);
    }

    [Test]
    public void The_check_covers_every_store_that_picks_statements()
    {
        var picking = typeof(BotDatabase).Assembly.GetTypes()
            .Where(t => PickedFields(t).Any())
            .Select(t => t.Name)
            .Order();
        var covered = Stores.Select(build => build(Database(StorageProvider.Sqlite)).GetType().Name).Order();

        Assert.That(picking, Is.EqualTo(covered));
    }

    private static List<(string Name, string Sql)> PickedStatements(StorageProvider provider)
    {
        var database = Database(provider);
        return Stores.Select(build => build(database))
            .SelectMany(store => PickedFields(store.GetType())
                .Select(f => ($"{store.GetType().Name}.{f.Name}", (string)f.GetValue(store)!)))
            .ToList();
    }

    // The convention a picked statement follows: a private readonly instance string field named _somethingSql.
    private static IEnumerable<FieldInfo> PickedFields(Type type) =>
        type.GetFields(BindingFlags.Instance | BindingFlags.NonPublic)
            .Where(f => f is { IsInitOnly: true } && f.FieldType == typeof(string) && f.Name.StartsWith('_') && f.Name.EndsWith("Sql", StringComparison.Ordinal));

    private static HashSet<string> SqlServerConstants() =>
        typeof(SqlServerStatementsAttribute).Assembly.GetTypes()
            .Where(t => t.GetCustomAttribute<SqlServerStatementsAttribute>() is not null)
            .SelectMany(t => t.GetFields(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static))
            .Where(f => f is { IsLiteral: true, IsInitOnly: false } && f.FieldType == typeof(string))
            .Select(f => (string)f.GetRawConstantValue()!)
            .ToHashSet();

    private static BotDatabase Database(StorageProvider provider) => new(Options.Create(new StorageOptions
    {
        Provider = provider,
        ConnectionString = provider == StorageProvider.Sqlite
            ? "Data Source=:memory:"
            : "Server=localhost;Database=unused;Integrated Security=true;TrustServerCertificate=true",
    }));
}
