using Bot.Tests.Fixtures;
using Dapper;

namespace Bot.Tests.Storage;

public sealed class CombinedWritesTests
{
    [Test]
    public async Task Writes_made_side_by_side_each_get_their_own_row_count_and_all_land()
    {
        await using var db = await MarksAsync(200);

        // 200 existing rows and 50 missing ones, written from 250 concurrent callers.
        var writes = Enumerable.Range(1, 250).Select(id => Task.Run(() =>
            db.Database.ExecuteCombinedAsync("UPDATE marks SET done = 1 WHERE id = @Id AND done = 0", new { Id = id })));
        var rows = await Task.WhenAll(writes);

        await using var check = await db.Database.OpenAsync(CancellationToken.None);
        Assert.Multiple(async () =>
        {
            Assert.That(rows.Take(200), Is.All.EqualTo(1));
            Assert.That(rows.Skip(200), Is.All.EqualTo(0), "a fenced update that matches nothing reports 0, not its neighbours' rows");
            Assert.That(await check.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM marks WHERE done = 1"), Is.EqualTo(200));
        });
    }

    [Test]
    public async Task A_failing_write_fails_its_caller_and_the_next_writes_still_land()
    {
        await using var db = await MarksAsync(2);

        Assert.That(async () => await db.Database.ExecuteCombinedAsync("UPDATE no_such_table SET x = 1", new { }),
            Throws.InstanceOf<Microsoft.Data.Sqlite.SqliteException>());
        var after = await db.Database.ExecuteCombinedAsync("UPDATE marks SET done = 1 WHERE id = @Id", new { Id = 2 });

        Assert.That(after, Is.EqualTo(1));
    }

    /// <summary>A database with a table of <paramref name="rows"/> unmarked rows, ids 1 to rows.</summary>
    private static async Task<TempDatabase> MarksAsync(int rows)
    {
        var db = await TempDatabase.CreateAsync();
        await using var connection = await db.Database.OpenAsync(CancellationToken.None);
        await connection.ExecuteAsync("CREATE TABLE marks (id INTEGER PRIMARY KEY, done INTEGER NOT NULL DEFAULT 0)");
        await connection.ExecuteAsync(
            "WITH RECURSIVE n(id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM n WHERE id < @Rows) INSERT INTO marks (id) SELECT id FROM n",
            new { Rows = rows });
        return db;
    }
}
