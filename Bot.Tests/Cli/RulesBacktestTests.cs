using System.Globalization;
using System.Text.Json;
using Bot.Core.Inbox;
using Bot.Core.Storage;
using Bot.Core.WeCom.Callbacks;
using Bot.Tests.Fixtures;
using Bot.Host.Cli;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Bot.Tests.Cli;

[NonParallelizable] // The verb reads its database and rules folder from the process environment, as in production.
public sealed class RulesBacktestTests
{
    // 2026-03-11 00:00 in Shanghai: the recorded day is 2026-03-10, local time.
    private static readonly DateTimeOffset Now = new(2026, 3, 11, 0, 0, 0, TimeSpan.FromHours(8));

    private string _directory = "";
    private string _live = "";
    private string _candidate = "";
    private readonly Dictionary<string, string?> _savedEnvironment = [];

    [SetUp]
    public async Task SetUpAsync()
    {
        _directory = Path.Combine(Path.GetTempPath(), "wecombot-backtest", Guid.NewGuid().ToString("N"));
        _live = Path.Combine(_directory, "live");
        _candidate = Path.Combine(_directory, "candidate");
        foreach (var folder in new[] { _live, _candidate })
        {
            Directory.CreateDirectory(folder);
            foreach (var file in Directory.GetFiles(RepoFiles.Path("rules"), "*.yaml"))
            {
                File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
            }
        }
        var connectionString = $"Data Source={Path.Combine(_directory, "bot.db")}";
        SetEnvironment("ConnectionStrings__Bot", connectionString);
        SetEnvironment("Rules__Path", _live);
        await RecordDayAsync(connectionString);
    }

    [TearDown]
    public void TearDown()
    {
        foreach (var (name, value) in _savedEnvironment)
        {
            Environment.SetEnvironmentVariable(name, value);
        }
        _savedEnvironment.Clear();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }

    [Test]
    public async Task Backtest_prints_the_difference_in_planned_actions_per_rule_and_exits_1()
    {
        // The candidate greets Shanghai-store customers at night too, and no longer tags coffee lovers.
        Edit(Path.Combine(_candidate, "welcome.yaml"), "      between: \"09:00-22:00\"         # local time window (Rules timezone, default Asia/Shanghai)\n", "");
        Edit(Path.Combine(_candidate, "community.yaml"), """
              - name: coffee-interest
                when:
                  keywords: ["咖啡", "拿铁", "美式"]
                tags: ["兴趣/咖啡"]

            """, "");

        var (exit, output, error) = await RunAsync("rules", "backtest", _candidate, "--since", "24h");

        Assert.Multiple(() =>
        {
            Assert.That(error, Is.Empty);
            Assert.That(exit, Is.EqualTo(1));
            Assert.That(output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Skip(1), Is.EqualTo(new[]
            {
                "\u22125 mark_tag 兴趣/咖啡 from coffee-interest",
                "\u221211 mark_tag 生命周期/新客 from night-owls",
                "\u221211 send_welcome_msg from night-owls",
                "+11 mark_tag 客户来源/上海门店 from shanghai-stores",
                "+11 mark_tag 生命周期/新客 from shanghai-stores",
                "+11 send_welcome_msg from shanghai-stores",
            }));
            // 24 + 6 contacts and 8 messages of the day; the 3 callbacks of two days before are not replayed.
            Assert.That(output, Does.StartWith("38 callbacks since 2026-03-09 16:00:00Z"));
        });
    }

    [Test]
    public async Task Backtest_of_identical_rules_reports_no_change_and_exits_0()
    {
        var (exit, output, _) = await RunAsync("rules", "backtest", _candidate, "--since", "24h");

        Assert.Multiple(() =>
        {
            Assert.That(exit, Is.EqualTo(0));
            Assert.That(output, Does.Contain("no change in planned actions"));
        });
    }

    [Test]
    public async Task Backtest_counts_a_reworded_welcome_as_a_change_and_shows_the_words_before_and_after()
    {
        Edit(Path.Combine(_candidate, "welcome.yaml"), "欢迎光临上海门店！", "欢迎来到上海门店！");

        var (exit, output, error) = await RunAsync("rules", "backtest", _candidate, "--since", "24h");

        var changes = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Skip(1).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(error, Is.Empty);
            Assert.That(exit, Is.EqualTo(1));
            // The 13 Shanghai contacts inside 09:00-22:00 would get other words; everything else plans as before.
            Assert.That(changes, Has.Count.EqualTo(1), output);
            Assert.That(changes[0], Does.StartWith("~13 send_welcome_msg from shanghai-stores: text "));
            Assert.That(changes[0], Does.Contain("\"…欢迎光临上海门店！回复…\" → \"…欢迎来到上海门店！回复…\""));
            Assert.That(output, Does.Not.Contain("no change"));
        });
    }

    [Test]
    public async Task Backtest_counts_a_changed_welcome_attachment_as_a_change()
    {
        Edit(Path.Combine(_candidate, "welcome.yaml"), "title: \"新客礼包\"", "title: \"新客大礼包\"");

        var (exit, output, _) = await RunAsync("rules", "backtest", _candidate, "--since", "24h");

        var changes = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Skip(1).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(exit, Is.EqualTo(1));
            Assert.That(changes, Has.Count.EqualTo(1), output);
            Assert.That(changes[0], Does.StartWith("~13 send_welcome_msg from shanghai-stores: attachments "));
            Assert.That(changes[0], Does.Contain("新客礼包").And.Contain("新客大礼包"));
        });
    }

    [Test]
    public async Task Backtest_counts_a_reworded_reply_and_a_changed_tag_set_as_changes()
    {
        Edit(Path.Combine(_candidate, "community.yaml"), "门店营业时间为每天 10:00-22:00。", "门店每天 10:00-22:00 营业。");
        Edit(Path.Combine(_candidate, "community.yaml"), "tags: [\"兴趣/咖啡\"]", "tags: [\"兴趣/咖啡\", \"兴趣/饮品\"]");

        var (exit, output, _) = await RunAsync("rules", "backtest", _candidate, "--since", "24h");

        Assert.Multiple(() =>
        {
            Assert.That(exit, Is.EqualTo(1));
            Assert.That(output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Skip(1), Is.EqualTo(new[]
            {
                "+5 mark_tag 兴趣/饮品 from coffee-interest",
                "~3 reply from opening-hours: text \"门店营业时间为每天 10:00-22:00。\" → \"门店每天 10:00-22:00 营业。\"",
            }));
        });
    }

    [Test]
    public async Task Backtest_of_a_broken_candidate_names_the_error_and_exits_2()
    {
        File.AppendAllText(Path.Combine(_candidate, "community.yaml"), "\nreplies:\n  - name: [unclosed\n");

        var (exit, output, error) = await RunAsync("rules", "backtest", _candidate, "--since", "24h");

        Assert.Multiple(() =>
        {
            Assert.That(exit, Is.EqualTo(2));
            Assert.That(error, Does.Contain("candidate rules").And.Contain("community.yaml"));
            Assert.That(output, Is.Empty);
        });
    }

    private static async Task<(int? Exit, string Output, string Error)> RunAsync(params string[] args)
    {
        using var output = new StringWriter(CultureInfo.InvariantCulture);
        using var error = new StringWriter(CultureInfo.InvariantCulture);
        var exit = await BotCommands.TryRunAsync(args, output, error, new FakeTimeProvider(Now));
        return (exit, output.ToString(), error.ToString());
    }

    /// <summary>A day of callbacks: a Shanghai-store contact every hour, six Beijing-mall contacts, customer messages.</summary>
    private static async Task RecordDayAsync(string connectionString)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["ConnectionStrings:Bot"] = connectionString });
        builder.AddStorage();
        builder.AddInbox();
        using var host = builder.Build();
        await host.Services.GetRequiredService<MigrationRunner>().ApplyAsync(CancellationToken.None);
        var writer = host.Services.GetRequiredService<InboxWriter>();
        await writer.StartAsync(CancellationToken.None);
        var day = Now.AddDays(-1);
        var entries = new List<InboxEntry>();
        for (var hour = 0; hour < 24; hour++)
        {
            // 11 of these arrive outside shanghai-stores' 09:00-22:00, so live rules greet them as night-owls.
            entries.Add(Contact($"wmSH{hour:D2}", $"CODE-SH-{hour:D2}", "store-sh-001", day.AddHours(hour).AddMinutes(30)));
        }
        foreach (var hour in new[] { 3, 10, 12, 15, 20, 23 })
        {
            entries.Add(Contact($"wmBJ{hour:D2}", $"CODE-BJ-{hour:D2}", "mall-bj-001", day.AddHours(hour).AddMinutes(10)));
        }
        for (var i = 0; i < 5; i++)
        {
            entries.Add(RobotText($"wmCOFFEE{i}", "有拿铁吗", day.AddHours(10 + i)));
        }
        for (var i = 0; i < 3; i++)
        {
            entries.Add(RobotText($"wmHOURS{i}", "请问营业时间", day.AddHours(16 + i)));
        }
        for (var i = 0; i < 3; i++)
        {
            entries.Add(RobotText($"wmOLD{i}", "咖啡", day.AddDays(-1).AddHours(12 + i)));
        }
        foreach (var entry in entries)
        {
            await writer.AppendAsync(entry, CancellationToken.None);
        }
        await writer.StopAsync(CancellationToken.None);
    }

    private static InboxEntry Contact(string externalUserId, string welcomeCode, string state, DateTimeOffset at)
    {
        var xml = BotApp.ContactAdded(externalUserId, welcomeCode, state, createTime: at.ToUnixTimeSeconds());
        var parsed = CallbackParser.Parse(xml);
        return new InboxEntry(parsed.DedupeKey, parsed.Kind, at, xml);
    }

    private static InboxEntry RobotText(string from, string text, DateTimeOffset at)
    {
        var json = JsonSerializer.Serialize(new
        {
            msgid = $"msg-{from}-{at.ToUnixTimeSeconds()}",
            aibotid = "bot01",
            chattype = "single",
            from = new { userid = from },
            msgtype = "text",
            text = new { content = text },
        });
        var parsed = RobotCallbackParser.Parse(json, at);
        return new InboxEntry(parsed.DedupeKey, parsed.Kind, at, json);
    }

    private static void Edit(string file, string remove, string insert)
    {
        var text = File.ReadAllText(file);
        Assert.That(text, Does.Contain(remove), $"{file} no longer holds the text this test edits");
        File.WriteAllText(file, text.Replace(remove, insert, StringComparison.Ordinal));
    }

    private void SetEnvironment(string name, string value)
    {
        _savedEnvironment.TryAdd(name, Environment.GetEnvironmentVariable(name));
        Environment.SetEnvironmentVariable(name, value);
    }
}
