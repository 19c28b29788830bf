using Bot.Core.Rules;

namespace Bot.Tests.Rules;

/// <summary>
/// A group post by mass message goes as each group's owner (WeCom gives a chat_type group task only to the owner,
/// FACTS-2 5.1): `rules check` refuses a rule that names another sender for it, with the reason (issue 14, defect 3).
/// </summary>
public sealed class GroupTaskSenderRuleTests
{
    [TestCase("group_welcome:\n  - name: g\n    channel: mass_message\n    sender: u1\n    message:\n      text: hi\n",
        "f.yaml:3:14: channel mass_message: a group welcome is sent as each group's owner")]
    [TestCase("lotteries:\n  - name: l\n    groups: [\"*\"]\n    keyword: k\n    opens: \"2026-11-28T10:00:00+08:00\"\n    draws: \"2026-11-28T20:00:00+08:00\"\n"
        + "    prizes: [{ name: p, count: 1 }]\n    channel: mass_message\n    sender: u1\n    announce: \"{{winners}}\"\n",
        "f.yaml:8:14: channel mass_message: the announcement is sent as each group's owner")]
    public void A_sender_for_a_group_mass_message_is_refused_with_the_reason(string yaml, string error)
    {
        using var folder = new RuleFolder().Write("f.yaml", yaml);
        var result = RuleLoader.Load(folder.Path);

        Assert.That(result.RuleSet, Is.Null, "the rule set does not load");
        var errors = result.Errors.Select(e => e.ToString().Replace(folder.Path + Path.DirectorySeparatorChar, "")).ToList();
        Assert.That(errors, Has.Count.EqualTo(1));
        Assert.That(errors[0], Does.StartWith(error).And.Contain("sender 'u1' cannot be used").And.Contain("owner"));
    }

    [Test]
    public void Without_a_sender_a_group_mass_message_loads_and_says_the_owner_confirms_it()
    {
        using var folder = new RuleFolder().Write("f.yaml", "group_welcome:\n  - name: g\n    channel: mass_message\n    message:\n      text: hi\n");
        var result = RuleLoader.Load(folder.Path);

        Assert.That(result.Errors, Is.Empty);
        Assert.That(result.Warnings.Select(w => w.ToString()), Has.One.Contains("the group's owner confirms it"));
    }

    [Test]
    public void A_seeding_script_by_trumpet_accounts_loads_with_a_warning_that_non_owner_posts_are_refused()
    {
        using var folder = new RuleFolder().Write("f.yaml",
            "seeding:\n  - name: s\n    groups: [\"*\"]\n    start: group_created\n    posts:\n      - after: 10m\n        by: t1\n        text: hi\n");
        var result = RuleLoader.Load(folder.Path);

        Assert.That(result.Errors, Is.Empty, "trumpet posts get their own channel later; they are not refused here");
        Assert.That(result.Warnings.Select(w => w.ToString()), Has.One.Contains("refused (fail_list) and recorded failed"));
    }
}
