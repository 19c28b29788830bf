using System.Reflection;
using Bot.Core.Storage;
using Microsoft.SqlServer.TransactSql.ScriptDom;

namespace Bot.Tests.Storage;

/// <summary>
/// No SQL Server runs where this project is built, so every T-SQL text we ship is at least parsed: each batch of
/// each SQL Server migration, and each const string of each [SqlServerStatements] class in Bot.Core.
/// </summary>
public sealed class SqlServerScriptTests
{
    public static IEnumerable<TestCaseData> MigrationBatches() =>
        MigrationRunner.Load(StorageProvider.SqlServer)
            .SelectMany(m => MigrationRunner.SqlServerBatches(m.Sql).Select((batch, i) =>
                new TestCaseData(batch).SetArgDisplayNames($"{m.Name} batch {i + 1}")));

    public static IEnumerable<TestCaseData> Statements() =>
        StatementFields().Select(f => new TestCaseData((string)f.GetRawConstantValue()!).SetArgDisplayNames($"{f.DeclaringType!.Name}.{f.Name}"));

    [TestCaseSource(nameof(MigrationBatches))]
    public void Every_SqlServer_migration_batch_parses_as_TSql(string batch) =>
        Assert.That(ParseErrors(batch), Is.Empty);

    [TestCaseSource(nameof(Statements))]
    public void Every_SqlServerStatements_constant_parses_as_TSql(string statement) =>
        Assert.That(ParseErrors(statement), Is.Empty);

    [Test]
    public void The_checker_finds_the_statement_classes_and_the_migrations()
    {
        var classes = StatementFields().Select(f => f.DeclaringType!.Name).Distinct().ToList();

        Assert.That(classes, Is.SupersetOf(new[] { "SqlServerMigrationSql", "InboxWriterSqlServer", "InboxStoreSqlServer" }));
        Assert.That(MigrationBatches().Count(), Is.GreaterThanOrEqualTo(4));
    }

    [TestCase("SELEC id FROM dbo.inbox")]
    [TestCase("UPDATE dbo.inbox SET state = N'handled' WHERE id = @Id AND")]
    [TestCase("SELECT id FROM inbox ORDER BY id LIMIT @Limit")]
    public void The_checker_reports_a_broken_statement(string broken) =>
        Assert.That(ParseErrors(broken), Is.Not.Empty);

    [Test]
    public void Sqlite_and_SqlServer_migrations_have_the_same_versions()
    {
        var sqlite = MigrationRunner.Load(StorageProvider.Sqlite).Select(m => m.Name).ToList();
        var sqlServer = MigrationRunner.Load(StorageProvider.SqlServer).Select(m => m.Name).ToList();

        Assert.That(sqlite, Is.Not.Empty);
        Assert.That(sqlServer, Is.EqualTo(sqlite));
    }

    private static IEnumerable<FieldInfo> StatementFields() =>
        typeof(SqlServerStatementsAttribute).Assembly.GetTypes()
            .Where(t => t.GetCustomAttribute<SqlServerStatementsAttribute>() is not null)
            .SelectMany(t => t.GetFields(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static))
            .Where(f => f is { IsLiteral: true, IsInitOnly: false } && f.FieldType == typeof(string));

    private static List<string> ParseErrors(string sql)
    {
        var parser = new TSql160Parser(initialQuotedIdentifiers: true);
        using var reader = new StringReader(sql);
        parser.Parse(reader, out var errors);
        return errors.Select(e => $"line {e.Line}, column {e.Column}: {e.Message}").ToList();
    }
}

public sealed class LiveSqlServerTests
{
    [Test]
    public void Live_SqlServer_tests_ran_because_BOT_TEST_SQLSERVER_is_set()
    {
        TestDatabase.RequireAvailable(TestStorage.LiveSqlServer);
        Assert.That(TestDatabase.LiveSqlServerConnectionString, Is.Not.Null);
    }
}
