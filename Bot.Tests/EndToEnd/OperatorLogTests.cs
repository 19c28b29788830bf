using Bot.Core.Rules;
using Bot.Tests.Fixtures;
using Microsoft.Extensions.Logging;

namespace Bot.Tests.EndToEnd;

/// <summary>What an operator reads in the host's log when an edit of the rule files goes wrong.</summary>
public sealed class OperatorLogTests
{
    [Test]
    public async Task A_broken_rule_edit_is_logged_with_file_line_and_reason_and_the_last_good_rules_stay_live()
    {
        using var app = new BotApp();
        using var client = app.CreateClient();
        var live = app.Service<RuleSetProvider>().Current.Version;

        // An unclosed quote on line 3: the loader names the file and the line.
        await File.WriteAllTextAsync(Path.Combine(app.RulesPath, "broken.yaml"), "replies:\n  - name: hours\n    keywords: [\"营业时间]\n");

        var rejected = await Eventually.UntilAsync(
            () => Task.FromResult(app.Logs.GetSnapshot().FirstOrDefault(r => r.Level == LogLevel.Error && r.Message.Contains("rejected", StringComparison.Ordinal))),
            record => record is not null,
            _ => "no rejected reload in the log:\n" + string.Join('\n', app.Logs.GetSnapshot().Select(r => r.Message)));

        Assert.Multiple(() =>
        {
            Assert.That(rejected!.Message, Does.Contain("broken.yaml:3:"));
            Assert.That(rejected.Message, Does.Contain($"version {live} stays live"));
            Assert.That(app.Service<RuleSetProvider>().Current.Version, Is.EqualTo(live));
        });
    }
}
