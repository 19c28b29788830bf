using Bot.Core.Storage;
using Dapper;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bot.Tests.Storage;

[TestFixture(TestStorage.Sqlite)]
[TestFixture(TestStorage.LiveSqlServer)]
public sealed class MigrationTests(TestStorage storage)
{
    private TestDatabase _db = null!;

    [SetUp]
    public async Task CreateDatabase()
    {
        TestDatabase.RequireAvailable(storage);
        _db = await TestDatabase.CreateAsync(storage);
    }

    [TearDown]
    public async Task DropDatabase()
    {
        if (_db is not null)
        {
            await _db.DisposeAsync();
        }
    }

    [Test]
    public async Task Migrations_apply_once_and_a_second_run_is_a_no_op()
    {
        var expected = MigrationRunner.Load(_db.Provider).Select(m => m.Version).ToList();
        var database = _db.Open();
        var runner = new MigrationRunner(database, NullLogger<MigrationRunner>.Instance);

        var first = await runner.ApplyAsync(CancellationToken.None);
        var second = await runner.ApplyAsync(CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That(first, Is.EqualTo(expected.Count));
            Assert.That(second, Is.Zero);
        });
        Assert.That(await AppliedVersionsAsync(database), Is.EqualTo(expected));
    }

    [Test]
    public async Task Two_runners_racing_on_a_new_database_apply_each_version_exactly_once()
    {
        var expected = MigrationRunner.Load(_db.Provider).Select(m => m.Version).ToList();
        var runners = Enumerable.Range(0, 2)
            .Select(_ => new MigrationRunner(_db.Open(), NullLogger<MigrationRunner>.Instance))
            .ToList();

        var applied = await Task.WhenAll(runners.Select(r => Task.Run(() => r.ApplyAsync(CancellationToken.None))));

        Assert.That(applied.Sum(), Is.EqualTo(expected.Count), "between them the runners applied every migration once");
        Assert.That(await AppliedVersionsAsync(_db.Open()), Is.EqualTo(expected));
    }

    [Test]
    public async Task The_inbox_table_exists_after_migration()
    {
        var database = await _db.MigratedAsync();
        await using var connection = await database.OpenAsync(CancellationToken.None);

        var rows = await connection.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM inbox");

        Assert.That(rows, Is.Zero);
    }

    private static async Task<List<int>> AppliedVersionsAsync(BotDatabase database)
    {
        await using var connection = await database.OpenAsync(CancellationToken.None);
        return (await connection.QueryAsync<int>("SELECT version FROM schema_migrations ORDER BY version")).ToList();
    }
}
