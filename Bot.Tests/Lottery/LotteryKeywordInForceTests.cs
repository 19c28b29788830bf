using System.Net;
using System.Text.Json;
using Bot.Core.Campaigns.Lottery;
using Bot.Core.Inbox;
using Bot.Core.Rules;
using Bot.Tests.EndToEnd;
using Bot.Tests.Fixtures;

namespace Bot.Tests.Lottery;

/// <summary>
/// An opened lottery keeps the keyword it opened with, through the path a customer's group message takes in the running
/// host (callback in, inbox, handler, lottery room), even after a reload edits the keyword in the rule file.
/// </summary>
public sealed class LotteryKeywordInForceTests
{
    private const string Chat = "wrVipJingan";
    private const string Opened = "抽奖";
    private const string Edited = "抽大奖";

    [Test]
    public async Task After_a_refused_keyword_edit_the_stored_keyword_enters_and_the_edited_one_does_not()
    {
        var now = DateTimeOffset.UtcNow;
        using var app = new BotApp(editRules: path =>
        {
            var file = Path.Combine(path, "campaigns.yaml");
            File.WriteAllText(file, File.ReadAllText(file)
                .Replace("opens: \"2026-11-28T10:00:00+08:00\"", $"opens: \"{now.AddHours(-1):yyyy-MM-ddTHH:mm:ssK}\"", StringComparison.Ordinal)
                .Replace("draws: \"2026-11-28T20:00:00+08:00\"", $"draws: \"{now.AddDays(1):yyyy-MM-ddTHH:mm:ssK}\"", StringComparison.Ordinal));
        });
        FakeWeCom.StubAll(app.WeCom, new Dictionary<string, (string, string[])>
        {
            ["wmStoredWord"] = ("赵六", ["生命周期/新客"]),
            ["wmEditedWord"] = ("钱七", ["生命周期/新客"]),
        });
        using var client = app.CreateClient();
        await AutomationFlowTests.PostOkAsync(client, app.SignedPost(AutomationFlowTests.ChatCreated(Chat)));
        await AutomationFlowTests.WaitInboxDrainedAsync(app);

        var rules = app.Service<RuleSetProvider>();
        var file = Path.Combine(app.RulesPath, "campaigns.yaml");
        await File.WriteAllTextAsync(file, (await File.ReadAllTextAsync(file)).Replace($"keyword: \"{Opened}\"", $"keyword: \"{Edited}\"", StringComparison.Ordinal));
        await WaitUntilAsync(() => Task.FromResult(rules.Current.Lotteries.Single().Keyword == Edited), "the edited rule file was not reloaded");
        var refusals = await app.Service<LotteryService>().SyncDefinitionsAsync(
            [.. rules.Current.Lotteries.Select(LotteryDefinition.From)], CancellationToken.None);
        Assert.That(refusals.Single(), Does.Contain("keyword").And.Contain("stored definition stays in force"), "the edit was refused");

        var responseUrl = app.WeCom.Url + "/response/lottery";
        await AutomationFlowTests.PostOkAsync(client, app.SignedRobotPost(AutomationFlowTests.RobotText(Chat, "wmStoredWord", Opened, responseUrl)));
        await AutomationFlowTests.PostOkAsync(client, app.SignedRobotPost(AutomationFlowTests.RobotText(Chat, "wmEditedWord", Edited, responseUrl)));
        await AutomationFlowTests.WaitInboxDrainedAsync(app);

        await FakeWeCom.WaitForDatabaseAsync(app.DatabasePath,
            "SELECT COUNT(*) FROM lottery_entry WHERE lottery = 'weekend-coffee' AND external_user_id = 'wmStoredWord'", n => n == 1);
        await FakeWeCom.WaitForDatabaseAsync(app.DatabasePath, "SELECT COUNT(*) FROM outbox WHERE completed_at IS NULL", n => n == 0);
        await FakeWeCom.WaitForDatabaseAsync(app.DatabasePath,
            "SELECT COUNT(*) FROM lottery_entry WHERE external_user_id = 'wmEditedWord'", n => n == 0);
        var replies = FakeWeCom.Calls(app.WeCom, "/response/lottery");
        Assert.That(replies, Has.Count.EqualTo(1), "only the stored keyword is answered");
        Assert.That(FakeWeCom.Json(replies[0]).GetProperty("markdown").GetProperty("content").GetString(), Does.Contain("已参加"));

        // Removed from the rules after it opened: still stored and drawn, no longer entered by keyword (as before).
        var yaml = await File.ReadAllTextAsync(file);
        var section = yaml.IndexOf("lotteries:", StringComparison.Ordinal);
        await File.WriteAllTextAsync(file, yaml[..section] + "lotteries: []\n\n" + yaml[yaml.IndexOf("seeding:", StringComparison.Ordinal)..]);
        await WaitUntilAsync(() => Task.FromResult(rules.Current.Lotteries.Count == 0), "the rule file without the lottery was not reloaded");
        await AutomationFlowTests.PostOkAsync(client, app.SignedRobotPost(AutomationFlowTests.RobotText(Chat, "wmEditedWord", Opened, responseUrl)));
        await AutomationFlowTests.WaitInboxDrainedAsync(app);
        await FakeWeCom.WaitForDatabaseAsync(app.DatabasePath, "SELECT COUNT(*) FROM outbox WHERE completed_at IS NULL", n => n == 0);
        Assert.That(await FakeWeCom.WaitForDatabaseAsync(app.DatabasePath,
            "SELECT COUNT(*) FROM lottery_entry WHERE external_user_id = 'wmEditedWord'", n => n == 0), Is.Zero);
        Assert.That(FakeWeCom.Calls(app.WeCom, "/response/lottery"), Has.Count.EqualTo(1));
    }

    private static Task WaitUntilAsync(Func<Task<bool>> done, string because) =>
        Eventually.UntilAsync(done, because, TimeSpan.FromSeconds(10));
}
