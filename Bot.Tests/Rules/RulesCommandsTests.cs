using Bot.Core.Rules;
using Bot.Tests.Fixtures;

namespace Bot.Tests.Rules;

public sealed class RulesCommandsTests
{
    [Test]
    public void Check_of_valid_rules_exits_zero_with_a_summary_and_prints_warnings()
    {
        var folder = SharedFiles.Path("examples", "rules");
        var output = new StringWriter();

        var code = RulesCommands.Check(folder, output);

        var lines = output.ToString().TrimEnd().Split(Environment.NewLine);
        Assert.That(code, Is.Zero);
        Assert.That(lines[^1], Does.Match(@"^rules ok: 3 welcome, 1 group_welcome, 1 replies, 2 tagging, 1 lotteries, 1 seeding, version [0-9a-f]{12}$"));
        Assert.That(lines[..^1], Has.All.Contains(": warning: "));
        Assert.That(lines[0], Does.StartWith(Path.Combine(folder, "campaigns.yaml") + ":3:5: warning: "));
    }

    [Test]
    public void Check_of_invalid_rules_exits_one_and_prints_every_error()
    {
        using var folder = new RuleFolder().Write("a.yaml", "welcome:\n  - name: a\n    tags: [x]\n");
        var output = new StringWriter();

        var code = RulesCommands.Check(folder.Path, output);

        Assert.That(code, Is.EqualTo(1));
        Assert.That(output.ToString(), Does.Contain($"{folder.File("a.yaml")}:2:5: missing field 'message' in welcome"));
        Assert.That(output.ToString(), Does.Contain($"{folder.File("a.yaml")}:3:12: tag \"x\" needs its tag group"));
    }
}
