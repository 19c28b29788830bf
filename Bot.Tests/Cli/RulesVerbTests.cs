using System.Text.Json;
using Bot.Tests.Fixtures;
using Bot.Host.Cli;

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

        var exit = RulesVerbs.Simulate(Path.Combine(_folder, "rules"), eventFile, output, error, TimeProvider.System);

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

        var exit = RulesVerbs.Simulate(Path.Combine(_folder, "rules"), eventFile, output, new StringWriter(), TimeProvider.System);

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
    }
    [Test]
    public async Task Check_refuses_a_welcome_text_over_wecoms_4000_bytes_naming_file_line_and_column()
    {
        var file = Path.Combine(_folder, "rules", "zz-long.yaml");
        // 1,333 three-byte characters and one byte: send_welcome_msg's 4,000 bytes exactly, which WeCom takes.
        var atLimit = new string('欢', 1333) + "a";
        File.WriteAllText(file, $"welcome:\n  - name: long\n    message:\n      text: \"{atLimit}\"\n");
        var (exit, output) = await CheckAsync();
        Assert.That(exit, Is.EqualTo(0), output);

        File.WriteAllText(file, $"welcome:\n  - name: long\n    message:\n      text: \"{atLimit}b\"\n");
        (exit, output) = await CheckAsync();

        Assert.Multiple(() =>
        {
            Assert.That(exit, Is.EqualTo(1));
            Assert.That(output, Does.Contain($"{file}:4:13: text is 4,001 bytes (UTF-8, not counting {{{{variables}}}}); send_welcome_msg takes at most 4,000"));
            Assert.That(output, Does.Not.Contain(atLimit), "the error names the text, it does not repeat it");
        });
    }

    [Test]
    public async Task Check_refuses_a_rule_file_over_the_size_cap_before_reading_it()
    {
        var file = Path.Combine(_folder, "rules", "huge.yaml");
        using (var stream = File.Create(file))
        {
            stream.SetLength(64L << 20); // sparse: 64 MiB on paper, no disk used
        }
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);

        var (exit, output) = await CheckAsync();

        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        Assert.Multiple(() =>
        {
            Assert.That(exit, Is.EqualTo(1));
            Assert.That(output, Does.Contain($"{file}:1:1: the file is 67,108,864 bytes; a rule file may have at most 4,194,304 (Rules:MaxFileBytes)"));
            Assert.That(allocated, Is.LessThan(16L << 20), "the file was read although its size alone refuses it");
        });
    }

    [Test]
    public async Task Check_refuses_invalid_utf8_naming_file_line_and_column()
    {
        var file = Path.Combine(_folder, "rules", "latin1.yaml");
        // "café" saved as Latin-1: 0xE9 is no UTF-8; reading it as UTF-8 would silently make it "caf\uFFFD".
        File.WriteAllBytes(file, [.. "replies:\n  - name: cafe\n    when: { keywords: [\"caf"u8, 0xE9, .. "\"] }\n    message: { text: ok }\n"u8]);

        var (exit, output) = await CheckAsync();

        Assert.Multiple(() =>
        {
            Assert.That(exit, Is.EqualTo(1));
            Assert.That(output, Does.Contain($"{file}:3:28: invalid UTF-8 (byte 0xE9); save the file as UTF-8"));
        });
    }

    [Test]
    public async Task Check_refuses_a_link_out_of_the_rules_folder_without_showing_what_it_points_at()
    {
        var secret = Path.Combine(_folder, "secret.txt");
        File.WriteAllText(secret, "hunter2-SECRET\n");
        var link = Path.Combine(_folder, "rules", "extra.yaml");
        File.CreateSymbolicLink(link, secret);

        var (exit, output) = await CheckAsync();

        Assert.Multiple(() =>
        {
            Assert.That(exit, Is.EqualTo(1));
            Assert.That(output, Does.Contain($"{link}:1:1: the file links outside the rules folder; rule files are read only from inside it"));
            Assert.That(output, Does.Not.Contain("hunter2"));
        });
    }

    [Test]
    public async Task Check_follows_links_that_stay_inside_the_folder_as_a_mounted_configmap_has_them()
    {
        // A Kubernetes ConfigMap volume: welcome.yaml -> ..data/welcome.yaml, ..data -> ..2026_03_10_08_00_00.1234.
        var rules = Path.Combine(_folder, "rules");
        var generation = Path.Combine(rules, "..2026_03_10_08_00_00.1234");
        Directory.CreateDirectory(generation);
        File.Move(Path.Combine(rules, "welcome.yaml"), Path.Combine(generation, "welcome.yaml"));
        Directory.CreateSymbolicLink(Path.Combine(rules, "..data"), "..2026_03_10_08_00_00.1234");
        File.CreateSymbolicLink(Path.Combine(rules, "welcome.yaml"), Path.Combine("..data", "welcome.yaml"));

        var (exit, output) = await CheckAsync();

        Assert.That(exit, Is.EqualTo(0), output);
        Assert.That(output, Does.Contain("rules ok: 3 welcome,"));
    }

    [Test]
    [NonParallelizable] // Rules__MaxRules reaches the verb through the process environment, as in production.
    public async Task Check_refuses_more_rules_than_Rules_MaxRules_and_a_bad_limit_names_the_key()
    {
        var saved = Environment.GetEnvironmentVariable("Rules__MaxRules");
        try
        {
            Environment.SetEnvironmentVariable("Rules__MaxRules", "3");
            var (exit, output) = await CheckAsync();
            Assert.Multiple(() =>
            {
                Assert.That(exit, Is.EqualTo(1));
                // Files in name order: campaigns.yaml holds 2 rules, community.yaml's opening-hours is the 4th.
                Assert.That(output, Does.Contain($"{Path.Combine(_folder, "rules", "community.yaml")}:11:5: too many rules: the folder may hold at most 3 (Rules:MaxRules)"));
            });

            Environment.SetEnvironmentVariable("Rules__MaxRules", "0");
            (exit, output) = await CheckAsync();
            Assert.Multiple(() =>
            {
                Assert.That(exit, Is.EqualTo(2));
                Assert.That(output, Does.Contain("MaxRules"));
            });
        }
        finally
        {
            Environment.SetEnvironmentVariable("Rules__MaxRules", saved);
        }
    }

    /// <summary>`rules check` through the verb table, with what it writes to stdout and stderr together.</summary>
    private async Task<(int? Exit, string Output)> CheckAsync()
    {
        var output = new StringWriter();
        var exit = await BotCommands.TryRunAsync(["rules", "check", Path.Combine(_folder, "rules")], output, output, TimeProvider.System);
        return (exit, output.ToString());
    }
}
