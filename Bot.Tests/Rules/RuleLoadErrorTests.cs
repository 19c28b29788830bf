using Bot.Core.Rules;

namespace Bot.Tests.Rules;

/// <summary>Each error class reports the exact file:line:col it is about.</summary>
public sealed class RuleLoadErrorTests
{
    private static string[] Errors(string yaml, params (string Name, string Yaml)[] more)
    {
        using var folder = new RuleFolder().Write("f.yaml", yaml);
        foreach (var (name, text) in more)
        {
            folder.Write(name, text);
        }
        var result = RuleLoader.Load(folder.Path);
        Assert.That(result.RuleSet, Is.Null, "the load should have failed");
        return [.. result.Errors.Select(e => e.ToString().Replace(folder.Path + Path.DirectorySeparatorChar, ""))];
    }

    [Test]
    public void A_tab_in_the_indentation_is_reported_first_at_its_own_line_with_the_fix()
    {
        var errors = Errors("welcome:\n  - name: a\n\tmessage: { text: hi }\n");

        Assert.That(errors[0], Is.EqualTo($"f.yaml:3:1: {TypoHints.Tab}"));
    }

    [Test]
    public void A_full_width_colon_after_a_field_name_is_reported_first_at_the_colon_with_the_fix()
    {
        var errors = Errors("""
            welcome:
              - name：a
                message: { text: hi }
            """);

        Assert.That(errors[0], Is.EqualTo($"f.yaml:2:9: {TypoHints.FullWidthColon("name")}"));
    }

    [Test]
    public void A_full_width_colon_in_a_text_of_a_file_that_loads_is_only_a_warning()
    {
        using var folder = new RuleFolder().Write("f.yaml", """
            welcome:
              - name: a
                message:
                  text: |
                    VIP：满100减20
            """);

        var result = RuleLoader.Load(folder.Path);

        Assert.That(result.Errors, Is.Empty);
        Assert.That(result.RuleSet, Is.Not.Null);
        Assert.That(result.Warnings.Select(w => (w.Line, w.Column, w.Message)),
            Is.EqualTo(new[] { (5, 12, TypoHints.FullWidthColon("VIP")) }));
    }

    [Test]
    public void Unknown_field_is_reported_at_its_key()
    {
        var errors = Errors("""
            welcome:
              - name: a
                mesage: { text: hi }
            """);

        Assert.That(errors, Does.Contain("f.yaml:3:5: unknown field 'mesage' in welcome rule (allowed: name, when, message, tags)"));
    }

    [Test]
    public void Unknown_field_inside_when_is_reported_at_its_key()
    {
        var errors = Errors("""
            welcome:
              - name: a
                when:
                  status: "x"
                message: { text: hi }
            """);

        Assert.That(errors, Is.EqualTo(new[] { "f.yaml:4:7: unknown field 'status' in 'when' (allowed: state, between, guide)" }));
    }

    [Test]
    public void Unknown_section_is_reported_at_its_key()
    {
        Assert.That(Errors("welcome: []\nreply:\n  - name: a\n"),
            Is.EqualTo(new[] { "f.yaml:2:1: unknown section 'reply' (allowed: welcome, group_welcome, replies, tagging, lotteries, seeding)" }));
    }

    [Test]
    public void Wrong_type_is_reported_at_the_value()
    {
        var errors = Errors("""
            welcome:
              - name: a
                message: { text: hi }
                tags: "生命周期/新客"
            """);

        Assert.That(errors, Is.EqualTo(new[] { "f.yaml:4:11: wrong type for 'tags': expected a list, got \"生命周期/新客\"" }));
    }

    [Test]
    public void Bad_glob_is_reported_at_the_pattern()
    {
        var errors = Errors("""
            group_welcome:
              - name: a
                when: { group: "VIP[12]" }
                message: { text: hi }
                robot_key: k
            """);

        Assert.That(errors, Is.EqualTo(new[] { "f.yaml:3:20: bad glob \"VIP[12]\": '[' is not supported (only * and ?)" }));
    }

    [TestCase("25:00-08:00")]
    [TestCase("9:00-22:00")]
    [TestCase("09:00")]
    [TestCase("08:00-08:00")]
    public void Bad_time_window_is_reported_at_the_value(string window)
    {
        var errors = Errors($"""
            welcome:
              - name: a
                when:
                  between: "{window}"
                message: {"{"} text: hi {"}"}
            """);

        Assert.That(errors, Has.Length.EqualTo(1));
        Assert.That(errors[0], Does.StartWith($"f.yaml:4:16: bad time window \"{window}\""));
    }

    [Test]
    public void Unknown_template_variable_is_reported_at_its_braces()
    {
        var errors = Errors("""
            replies:
              - name: a
                when: { keywords: [hi] }
                message:
                  text: "您好 {{customer.name}}，我是{{guide.name}}"
            """);

        Assert.That(errors, Is.EqualTo(new[] { "f.yaml:5:37: unknown template variable {{guide.name}} (allowed: {{customer.name}})" }));
    }

    [Test]
    public void Unknown_template_variable_in_a_block_scalar_is_reported_on_its_own_line()
    {
        var errors = Errors("""
            lotteries:
              - name: a
                groups: ["*"]
                keyword: 抽奖
                opens: "2026-11-28T10:00:00+08:00"
                draws: "2026-11-28T20:00:00+08:00"
                prizes: [{ name: p, count: 1 }]
                robot_key: k
                announce: |
                  {{lottery.name}} 开奖
                  恭喜 {{winner}}
            """);

        Assert.That(errors, Is.EqualTo(new[] { "f.yaml:11:10: unknown template variable {{winner}} (allowed: {{winners}}, {{lottery.name}})" }));
    }

    [Test]
    public void Duplicate_rule_name_across_files_and_sections_is_reported_at_the_second_name()
    {
        var errors = Errors(
            "welcome:\n  - name: same\n    message: { text: hi }\n",
            ("g.yaml", "replies:\n  - name: other\n    when: { keywords: [x] }\n    message: { text: y }\n  - name: same\n    when: { keywords: [x] }\n    message: { text: y }\n"));

        Assert.That(errors, Has.Length.EqualTo(1));
        Assert.That(errors[0], Does.StartWith("g.yaml:5:11: duplicate rule name 'same' (first defined at "));
        Assert.That(errors[0], Does.EndWith("f.yaml:2:11)"));
    }

    [Test]
    public void Tag_without_its_group_is_reported_at_the_tag()
    {
        var errors = Errors("""
            tagging:
              - name: a
                when: { keywords: [咖啡] }
                tags: ["兴趣/咖啡", "咖啡"]
            """);

        Assert.That(errors, Is.EqualTo(new[] { "f.yaml:4:21: tag \"咖啡\" needs its tag group: write \"group/tag\", e.g. \"生命周期/新客\"" }));
    }

    [TestCase("60")]
    [TestCase("1m30")]
    [TestCase("30m1h")]
    [TestCase("1.5h")]
    public void Duration_that_does_not_parse_is_reported_at_the_value(string duration)
    {
        var errors = Errors($"""
            group_welcome:
              - name: a
                batch: {duration}
                message: {"{"} text: hi {"}"}
                robot_key: k
            """);

        Assert.That(errors, Is.EqualTo(new[] { $"f.yaml:3:12: bad duration \"{duration}\": use a number with s, m, h or d, or a combination like 1h30m" }));
    }

    private const string Lottery = """
        lotteries:
          - name: a
            groups: ["VIP*"]
            keyword: 抽奖
            opens: "{0}"
            draws: "{1}"
            prizes:
              - name: p
                count: {2}
            announce: "{{winners}}"
            robot_key: k
        """;

    private static string LotteryYaml(string opens, string draws, object count) =>
        string.Format(Lottery.Replace("{{", "{{{{").Replace("}}", "}}}}"), opens, draws, count);

    [Test]
    public void Lottery_that_draws_before_it_opens_is_reported_at_draws()
    {
        var errors = Errors(LotteryYaml("2026-11-28T20:00:00+08:00", "2026-11-28T12:00:00Z", 1));

        Assert.That(errors, Is.EqualTo(new[] { "f.yaml:6:12: draws (2026-11-28T12:00:00Z) must be after opens" }));
    }

    [Test]
    public void Lottery_time_without_offset_is_reported()
    {
        var errors = Errors(LotteryYaml("2026-11-28T10:00:00", "2026-11-28T20:00:00+08:00", 1));

        Assert.That(errors, Is.EqualTo(new[] { "f.yaml:5:12: bad time \"2026-11-28T10:00:00\": expected an ISO 8601 time with its offset, like 2026-11-28T20:00:00+08:00" }));
    }

    [TestCase("0")]
    [TestCase("-2")]
    [TestCase("three")]
    public void Prize_count_below_one_is_reported_at_the_count(string count)
    {
        var errors = Errors(LotteryYaml("2026-11-28T10:00:00+08:00", "2026-11-28T20:00:00+08:00", count));

        Assert.That(errors, Is.EqualTo(new[] { $"f.yaml:9:16: prize count must be a whole number of at least 1, got \"{count}\"" }));
    }

    // The lottery room stores a compiled lottery as it is, so the loader is where a blank name is refused.
    [Test]
    public void Lottery_with_a_blank_name_is_reported_at_the_name()
    {
        var yaml = LotteryYaml("2026-11-28T10:00:00+08:00", "2026-11-28T20:00:00+08:00", 1).Replace("name: a", "name: \"  \"", StringComparison.Ordinal);

        Assert.That(Errors(yaml), Is.EqualTo(new[] { "f.yaml:2:11: empty name: a lottery is stored, drawn and announced under its name" }));
    }

    [Test]
    public void Prize_with_a_blank_name_is_reported_at_the_name()
    {
        var yaml = LotteryYaml("2026-11-28T10:00:00+08:00", "2026-11-28T20:00:00+08:00", 1).Replace("name: p", "name: \" \"", StringComparison.Ordinal);

        Assert.That(Errors(yaml), Is.EqualTo(new[] { "f.yaml:8:15: empty prize name: a winner is told the prize by its name" }));
    }

    [Test]
    public void More_than_nine_attachments_is_reported_at_the_tenth()
    {
        var items = string.Concat(Enumerable.Range(1, 10).Select(i => $"\n        - image: {{ media_id: m{i} }}"));
        var errors = Errors($"welcome:\n  - name: a\n    message:\n      text: hi\n      attachments:{items}\n");

        Assert.That(errors, Is.EqualTo(new[] { "f.yaml:15:11: too many attachments: 10 (WeCom accepts at most 9)" }));
    }

    [Test]
    public void Empty_keyword_list_is_reported_at_the_list()
    {
        var errors = Errors("""
            replies:
              - name: a
                when:
                  keywords: []
                message: { text: hi }
            """);

        Assert.That(errors, Is.EqualTo(new[] { "f.yaml:4:17: empty keyword list: a keyword rule needs at least one keyword" }));
    }

    [Test]
    public void Bad_cron_start_is_reported_at_the_value()
    {
        var errors = Errors("""
            seeding:
              - name: a
                groups: ["*"]
                start: "0 19 * * FRI"
                posts: [{ after: 1m, by: t1, text: hi }]
            """);

        Assert.That(errors, Has.Length.EqualTo(1));
        Assert.That(errors[0], Does.StartWith("f.yaml:4:12: bad start \"0 19 * * FRI\": expected group_created or a cron expression with seconds"));
    }

    [Test]
    public void Unknown_channel_is_reported_at_the_value()
    {
        var errors = Errors("""
            seeding:
              - name: a
                groups: ["*"]
                start: "0 0 19 * * FRI"
                channel: welcome_template
                posts: [{ after: 1m, by: t1, text: hi }]
            """);

        Assert.That(errors, Is.EqualTo(new[] { "f.yaml:5:14: unknown channel 'welcome_template' for seeding (allowed: robot, mass_message)" }));
    }

    [Test]
    public void Missing_required_field_is_reported_at_the_rule()
    {
        Assert.That(Errors("welcome:\n  - name: a\n"), Is.EqualTo(new[] { "f.yaml:2:5: missing field 'message' in welcome" }));
    }

    [Test]
    public void Yaml_syntax_error_is_reported_where_the_parser_stopped()
    {
        var errors = Errors("welcome:\n  - name: a\n    message: { text: hi\n");

        Assert.That(errors, Has.Length.EqualTo(1));
        Assert.That(errors[0], Does.Match(@"^f\.yaml:\d+:\d+: YAML syntax error: "));
    }

    [Test]
    public void Every_error_of_every_file_is_collected_in_one_load()
    {
        var errors = Errors(
            "welcome:\n  - name: a\n    when: { between: \"9-5\" }\n    message: { text: \"{{nobody}}\" }\n    tags: [untagged]\n",
            ("g.yaml", "tagging:\n  - name: b\n    when: { keywords: [] }\n    tags: [x/y]\n"));

        Assert.That(errors, Has.Length.EqualTo(4));
        Assert.That(errors.Select(e => e[..e.IndexOf(": ", StringComparison.Ordinal)]),
            Is.EqualTo(new[] { "f.yaml:3:22", "f.yaml:4:23", "f.yaml:5:12", "g.yaml:3:23" }));
    }

    [Test]
    public void A_key_written_twice_in_one_rule_is_an_error_not_a_silent_override()
    {
        var errors = Errors("welcome:\n  - name: a\n    message: { text: hi }\n    name: b\n");

        Assert.That(errors, Has.Length.EqualTo(1));
        Assert.That(errors[0], Does.Match(@"^f\.yaml:4:5: ").And.Contains("name"));
    }
    // Each text goes to one WeCom API, whose limit (shared/wecom/FACTS.md) the loader checks in UTF-8 bytes.
    [TestCase("group_welcome:\n  - name: g\n    robot_key: k\n    message:\n      text: \"TEXT\"\n",
        2048, "5:13: text is 2,049 bytes (UTF-8, not counting {{variables}}); a group robot post (webhook/send) takes at most 2,048")]
    [TestCase("group_welcome:\n  - name: g\n    channel: welcome_template\n    message:\n      text: \"TEXT\"\n",
        3000, "5:13: text is 3,001 bytes (UTF-8, not counting {{variables}}); group_welcome_template/add takes at most 3,000")]
    [TestCase("group_welcome:\n  - name: g\n    channel: mass_message\n    message:\n      text: \"TEXT\"\n",
        4000, "5:13: text is 4,001 bytes (UTF-8, not counting {{variables}}); add_msg_template takes at most 4,000")]
    [TestCase("replies:\n  - name: r\n    when: { keywords: [k] }\n    message:\n      text: \"TEXT\"\n",
        4096, "5:13: text is 4,097 bytes (UTF-8, not counting {{variables}}); a reply may have at most 4,096 (Rules:MaxReplyTextBytes)")]
    [TestCase("lotteries:\n  - name: l\n    groups: [\"*\"]\n    keyword: k\n    opens: \"2026-11-28T10:00:00+08:00\"\n    draws: \"2026-11-28T20:00:00+08:00\"\n"
        + "    prizes: [{ name: p, count: 1 }]\n    robot_key: k\n    announce: \"{{winners}}TEXT\"\n",
        2048, "9:15: announce is 2,049 bytes (UTF-8, not counting {{variables}}); a group robot post (webhook/send) takes at most 2,048")]
    [TestCase("seeding:\n  - name: s\n    groups: [\"*\"]\n    start: group_created\n    posts:\n      - after: 10m\n        by: t1\n        text: \"TEXT\"\n",
        4000, "8:15: text is 4,001 bytes (UTF-8, not counting {{variables}}); add_msg_template takes at most 4,000")]
    [TestCase("welcome:\n  - name: w\n    message:\n      attachments:\n        - link: { title: \"TEXT\", url: \"https://x.example/\" }\n",
        128, "5:26: title is 129 bytes (UTF-8, not counting {{variables}}); a link attachment's title takes at most 128")]
    public void A_text_over_the_limit_of_the_wecom_api_that_sends_it_is_refused_at_the_text(string yaml, int limit, string error)
    {
        using (var atLimit = new RuleFolder().Write("f.yaml", yaml.Replace("TEXT", new string('x', limit), StringComparison.Ordinal)))
        {
            var loaded = RuleLoader.Load(atLimit.Path);
            Assert.That(loaded.Errors, Is.Empty, "a text of exactly the limit is what WeCom takes");
        }

        var errors = Errors(yaml.Replace("TEXT", new string('x', limit + 1), StringComparison.Ordinal));

        Assert.That(errors, Is.EqualTo(new[] { "f.yaml:" + error }));
    }

    [Test]
    public void More_rules_than_the_default_cap_are_refused_once_at_the_first_rule_over_it()
    {
        var yaml = new System.Text.StringBuilder("replies:\n");
        for (var i = 0; i <= 10_000; i++)
        {
            yaml.Append("  - { name: r").Append(i).Append(", when: { keywords: [k").Append(i).Append("] }, message: { text: ok } }\n");
        }

        var errors = Errors(yaml.ToString());

        Assert.That(errors, Is.EqualTo(new[] { "f.yaml:10002:5: too many rules: the folder may hold at most 10,000 (Rules:MaxRules)" }));
    }

    [Test]
    public void Rule_files_coming_to_more_than_Rules_MaxFolderBytes_are_refused_at_the_file_that_crosses_it()
    {
        var padding = "# " + new string('x', 600) + "\n";
        using var folder = new RuleFolder()
            .Write("a.yaml", padding + "replies:\n  - { name: a, when: { keywords: [a] }, message: { text: ok } }\n")
            .Write("b.yaml", padding + "replies:\n  - { name: b, when: { keywords: [b] }, message: { text: ok } }\n");

        var result = RuleLoader.Load(folder.Path, TimeProvider.System, new RulesOptions { MaxFolderBytes = 1024 });

        Assert.That(result.Errors.Select(e => e.ToString()),
            Is.EqualTo(new[] { $"{folder.File("b.yaml")}:1:1: with this file the rule files come to more than 1,024 bytes (Rules:MaxFolderBytes)" }));
    }

    [Test]
    public void A_long_scalar_in_an_error_is_shortened_not_repeated_whole()
    {
        var errors = Errors($"welcome: \"{new string('x', 5000)}\"\n");

        Assert.That(errors.Single(), Does.StartWith("f.yaml:1:10: wrong type for section 'welcome': expected a list of rules, got \"xxxx"));
        Assert.That(errors.Single().Length, Is.LessThan(200));
    }
}
