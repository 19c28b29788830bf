using System.Reflection;
using Bot.Core.Campaigns.Lottery;
using Bot.Core.Storage;
using Microsoft.SqlServer.TransactSql.ScriptDom;

namespace Bot.Tests.Lottery;

/// <summary>No SQL Server runs here, so the lottery's T-SQL (migration, variants and shared statements) is parsed.</summary>
public sealed class LotterySqlServerTests
{
    [Test]
    public void Lottery_migration_and_statements_parse_as_TSql()
    {
        var scripts = new List<(string Name, string Sql)>();
        var migration = MigrationRunner.Load(StorageProvider.SqlServer).Single(m => m.Name == "0003_lottery.sql");
        scripts.AddRange(MigrationRunner.SqlServerBatches(migration.Sql).Select((b, i) => ($"0003_lottery.sql batch {i + 1}", b)));
        scripts.AddRange(typeof(LotterySqlServerSql).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.IsLiteral)
            .Select(f => ($"LotterySqlServerSql.{f.Name}", (string)f.GetRawConstantValue()!)));

        var parser = new TSql170Parser(initialQuotedIdentifiers: true);
        foreach (var (name, sql) in scripts)
        {
            parser.Parse(new StringReader(sql), out var errors);
            Assert.That(errors.Select(e => $"{e.Number} line {e.Line}: {e.Message}"), Is.Empty, name);
        }
        Assert.That(scripts, Has.Count.EqualTo(5));
    }
}
