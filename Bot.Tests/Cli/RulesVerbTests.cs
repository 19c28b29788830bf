using System.Text.Json;
using Bot.Tests.Fixtures;
using Bot.Web.Cli;

namespace Bot.Tests.Cli;

public sealed class RulesVerbTests
{
    private string _folder = null!;

    [SetUp]
    public void CopyRules()
    {
        _folder = Path.Combine(Path.GetTempPath(), "wecombot-cli", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path.Combine(_folder, "rules"));
        foreach (var file in Directory.GetFiles(SharedFiles.Path("examples", "rules"), "*.yaml"))
        {
            File.Copy(file, Path.Combine(_folder, "rules", Path.GetFileName(file)));
        }
    }

    [TearDown]
    public void Remove() => Directory.Delete(_folder, recursive: true);

    [Test]
    public void Simulate_prints_the_welcome_and_tags_a_contact_added_callback_would_cause()
    {
        var eventFile = Path.Combine(_folder, "added.xml");
        // Created at 10:00 in Shanghai is irrelevant: simulate plans for "now", so pick a state that only the
        // time-independent default rule or the Shanghai rule can match and check the rule's tags, which both name.
        File.WriteAllText(eventFile, BotApp.ContactAdded("wmSIM01", "CODE-SIM", state: "store-sh-009"));
        var output = new StringWriter();
        var error = new StringWriter();

        var exit = BotCommands.Simulate(Path.Combine(_folder, "rules"), eventFile, output, error);

        Assert.That(exit, Is.EqualTo(0), error.ToString());
        using var json = JsonDocument.Parse(output.ToString());
        Assert.That(json.RootElement.GetProperty("kind").GetString(), Is.EqualTo("change_external_contact/add_external_contact"));
        var actions = json.RootElement.GetProperty("actions").EnumerateArray().ToList();
        var welcome = actions.Single(a => a.GetProperty("Action").GetString() == "send_welcome_msg");
        Assert.That(welcome.GetProperty("Detail").GetProperty("welcomeCode").GetString(), Is.EqualTo("CODE-SIM"));
        Assert.That(welcome.GetProperty("File").GetString(), Does.EndWith("welcome.yaml"));
        var tags = actions.Single(a => a.GetProperty("Action").GetString() == "mark_tag");
        Assert.That(tags.GetProperty("Detail").GetProperty("tags").EnumerateArray().Select(t => t.GetString()), Does.Contain("生命周期/新客"));
    }

    [Test]
    public void Simulate_of_a_robot_message_prints_the_keyword_reply()
    {
        var eventFile = Path.Combine(_folder, "robot.json");
        File.WriteAllText(eventFile, """
            {"msgid":"m1","aibotid":"bot1","chatid":"wrCHAT","chattype":"group","from":{"userid":"wmCUST"},
             "response_url":"https://example.invalid/r","msgtype":"text","text":{"content":"@店小助 请问营业时间是几点"}}
            """);
        var output = new StringWriter();

        var exit = BotCommands.Simulate(Path.Combine(_folder, "rules"), eventFile, output, new StringWriter());

        Assert.That(exit, Is.EqualTo(0));
        Assert.That(output.ToString(), Does.Contain("opening-hours").And.Contain("门店营业时间为每天 10:00-22:00。"));
    }

    [Test]
    public async Task Check_of_a_broken_rule_file_exits_1_naming_file_line_and_column()
    {
        var file = Path.Combine(_folder, "rules", "community.yaml");
        var lines = File.ReadAllLines(file).Length;
        File.AppendAllText(file, "\n  - name: broken\n    when:\n      keywords: [\"x\"]\n    tags: [\"no-group\"]\n");
        var output = new StringWriter();

        var exit = await Task.Run(() => Bot.Core.Rules.RulesCommands.Check(Path.Combine(_folder, "rules"), output));

        Assert.That(exit, Is.EqualTo(1));
        // The tag sits on the 5th appended line (after the blank one), in column 12.
        Assert.That(output.ToString(), Does.Contain($"community.yaml:{lines + 5}:12:"));
        Assert.That(await BotCommands.TryRunAsync(["not-a-verb"]), Is.Null, "anything else starts the web host");
    }
}
