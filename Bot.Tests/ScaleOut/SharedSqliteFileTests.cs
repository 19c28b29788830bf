using System.Collections.Concurrent;
using System.Net;
using Bot.Core.Storage;
using Bot.Tests.EndToEnd;
using Bot.Tests.Fixtures;
using WireMock.Server;

namespace Bot.Tests.ScaleOut;

/// <summary>
/// What deploy/README.md supports for several instances on SQLite: three real Bot.Host processes on one machine,
/// started together on one fresh SQLite file (WAL, local disk) with one Redis for the quotas. The schema is migrated
/// once, every callback acknowledged by any of them is stored once and handled, and each customer is welcomed once.
/// </summary>
[NonParallelizable]
public sealed class SharedSqliteFileTests
{
    private const int Contacts = 60;

    private readonly List<BotProcess> _hosts = [];
    private ProcessWorkspace? _workspace;
    private WireMockServer? _weCom;

    [TearDown]
    public void Cleanup()
    {
        var failed = TestContext.CurrentContext.Result.Outcome.Status == NUnit.Framework.Interfaces.TestStatus.Failed;
        foreach (var host in _hosts)
        {
            if (failed)
            {
                TestContext.Out.WriteLine($"--- host {host.ProcessId}\n{host.Output}");
            }
            host.Dispose();
        }
        _hosts.Clear();
        _weCom?.Stop();
        _workspace?.Dispose();
    }

    [Test]
    [CancelAfter(120_000)]
    public async Task Three_hosts_started_together_on_one_fresh_SQLite_file_migrate_it_once_lose_no_callback_and_welcome_each_customer_once(CancellationToken ct)
    {
        _workspace = new ProcessWorkspace("wecombot-shared-sqlite");
        var (rules, database) = (_workspace.Rules, _workspace.Database);
        _weCom = WireMockServer.Start(new WireMock.Settings.WireMockServerSettings { MaxRequestLogCount = 100_000 });
        FakeWeCom.StubAll(_weCom);
        var settings = new Dictionary<string, string?>
        {
            ["Redis:Configuration"] = RedisTestServer.Shared.Configuration,
            ["Redis:KeyPrefix"] = RedisTestServer.NewPrefix(),
            // Each host says which migrations it applied.
            ["Logging:LogLevel:Bot.Core.Storage.MigrationRunner"] = "Information",
        };

        // Nothing migrated the file beforehand: the three race for it.
        _hosts.AddRange(await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => BotProcess.StartAsync(_weCom.Url!, database, rules, settings))));

        var random = new Random(13);
        var deliveries = new List<(BotProcess Host, string Xml)>();
        for (var i = 0; i < Contacts; i++)
        {
            var xml = BotApp.ContactAdded($"wmShared{i:D3}", $"SHARED-{i:D3}");
            deliveries.Add((_hosts[random.Next(_hosts.Count)], xml));
            if (random.Next(2) == 0)
            {
                // WeCom's retry of the same callback, landing on another instance.
                deliveries.Add((_hosts[random.Next(_hosts.Count)], xml));
            }
        }
        var statuses = new ConcurrentBag<HttpStatusCode>();
        await Parallel.ForEachAsync(deliveries.OrderBy(_ => random.Next()).ToList(), new ParallelOptions { MaxDegreeOfParallelism = 6, CancellationToken = ct },
            async (delivery, token) =>
            {
                using var client = delivery.Host.CreateClient();
                using var response = await client.SendAsync(BotProcess.SignedPost(delivery.Xml), token);
                statuses.Add(response.StatusCode);
            });
        var welcomes = await FakeWeCom.WaitForAsync(_weCom, "externalcontact/send_welcome_msg", count: Contacts, timeout: TimeSpan.FromSeconds(40));
        await FakeWeCom.WaitForDatabaseAsync(database, "SELECT COUNT(*) FROM inbox WHERE state <> 'handled'", n => n == 0, TimeSpan.FromSeconds(30));
        await FakeWeCom.WaitForDatabaseAsync(database, "SELECT COUNT(*) FROM outbox WHERE state IN ('pending', 'sending')", n => n == 0, TimeSpan.FromSeconds(30));

        var migrations = MigrationRunner.Load(StorageProvider.Sqlite);
        var appliedLines = _hosts.Sum(h => h.Output.Split('\n').Count(l => l.Contains("Applied migration", StringComparison.Ordinal)));
        var codes = FakeWeCom.Calls(_weCom, "externalcontact/send_welcome_msg").Select(e => FakeWeCom.Json(e).GetProperty("welcome_code").GetString()).ToList();
        Assert.Multiple(async () =>
        {
            Assert.That(deliveries, Has.Count.GreaterThan(Contacts), "some callbacks were delivered twice");
            Assert.That(statuses, Has.Count.EqualTo(deliveries.Count).And.All.EqualTo(HttpStatusCode.OK), "every delivery acknowledged");
            Assert.That(_hosts.Where(h => h.HasExited), Is.Empty, "no host fell over");
            Assert.That(await FakeWeCom.ScalarAsync(database, "SELECT COUNT(*) FROM schema_migrations"), Is.EqualTo(migrations.Count));
            Assert.That(appliedLines, Is.EqualTo(migrations.Count), "each migration applied by one host only");
            Assert.That(await JournalModeAsync(database), Is.EqualTo("wal"));
            Assert.That(await FakeWeCom.ScalarAsync(database, "SELECT COUNT(*) FROM inbox"), Is.EqualTo(Contacts), "each callback stored once");
            Assert.That(await FakeWeCom.ScalarAsync(database, "SELECT COUNT(*) FROM outbox WHERE kind = 'welcome' AND state = 'sent'"), Is.EqualTo(Contacts));
            Assert.That(welcomes, Has.Count.GreaterThanOrEqualTo(Contacts));
            Assert.That(codes, Is.Unique, "a customer welcomed twice");
            Assert.That(codes, Is.EquivalentTo(Enumerable.Range(0, Contacts).Select(i => $"SHARED-{i:D3}")));
        });
    }

    private static async Task<string?> JournalModeAsync(string database)
    {
        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={database};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode";
        return (string?)await command.ExecuteScalarAsync();
    }
}
