using Bot.Core.Rules;
using Bot.Tests.Fixtures;

namespace Bot.Tests.Rules;

public sealed class RuleLoaderTests
{
    private static readonly string SharedExamples = SharedFiles.Path("examples", "rules");

    [Test]
    public void Every_shared_example_file_loads_unchanged()
    {
        var result = RuleLoader.Load(SharedExamples);

        Assert.That(result.Errors, Is.Empty, string.Join("\n", result.Errors));
        var rules = result.RuleSet!;
        Assert.That(rules.Summary(), Is.EqualTo("3 welcome, 1 group_welcome, 1 replies, 2 tagging, 1 lotteries, 1 seeding"));
        Assert.That(rules.Welcome.Select(r => r.Source.Name), Is.EqualTo(new[] { "shanghai-stores", "night-owls", "default" }));
        Assert.That(rules.Version, Does.Match("^[0-9a-f]{12}$"));
    }

    [Test]
    public void The_repository_rules_folder_is_the_shared_contract_and_has_the_same_version()
    {
        var repo = RuleLoader.Load(RepoFiles.Path("rules"));
        var shared = RuleLoader.Load(SharedExamples);

        Assert.That(repo.Errors, Is.Empty, string.Join("\n", repo.Errors));
        Assert.That(repo.RuleSet!.Version, Is.EqualTo(shared.RuleSet!.Version));
    }

    [Test]
    public void Example_rules_keep_their_fields_file_and_line()
    {
        var rules = RuleLoader.Load(SharedExamples).RuleSet!;

        var lottery = rules.Lotteries.Single();
        Assert.That(lottery.Source, Is.EqualTo(new RuleSource("weekend-coffee", Path.Combine(SharedExamples, "campaigns.yaml"), 3)));
        Assert.That(lottery.Draws, Is.EqualTo(new DateTimeOffset(2026, 11, 28, 20, 0, 0, TimeSpan.FromHours(8))));
        Assert.That(lottery.Prizes, Is.EqualTo(new[] { new Prize("免费拿铁", 3), new Prize("9 折券", 10) }));
        Assert.That(lottery.EligibleTagsAny, Is.EqualTo(new[] { "生命周期/新客", "客户等级/VIP群成员" }));
        Assert.That(lottery.Channel, Is.EqualTo(GroupChannel.Robot));
        Assert.That(lottery.Announce.Render(["@王", lottery.Source.Name]), Is.EqualTo("🎉「weekend-coffee」开奖啦！@王 恭喜中奖，请私信店长领取。"));

        var seeding = rules.Seeding.Single();
        Assert.That(seeding.Start.OnGroupCreated, Is.True);
        Assert.That(seeding.Jitter, Is.EqualTo(TimeSpan.FromMinutes(3)));
        Assert.That(seeding.QuietHours.ToString(), Is.EqualTo("22:00-08:00"));
        Assert.That(seeding.Posts.Select(p => (p.After, p.By)), Is.EqualTo(new[] { (TimeSpan.FromMinutes(10), "trumpet01"), (TimeSpan.FromMinutes(14), "trumpet02") }));
        Assert.That(seeding.Channel, Is.EqualTo(GroupChannel.MassMessage));

        var groupWelcome = rules.GroupWelcome.Single();
        Assert.That(groupWelcome.Batch, Is.EqualTo(TimeSpan.FromSeconds(60)));
        Assert.That(groupWelcome.Source.Line, Is.EqualTo(3));
        Assert.That(rules.Tagging.Select(t => t.Trigger), Is.EqualTo(new[] { TaggingTrigger.Keywords, TaggingTrigger.GroupJoin }));
    }

    [Test]
    public void Example_rules_warn_where_their_channel_cannot_do_what_they_ask()
    {
        var result = RuleLoader.Load(SharedExamples);
        var community = Path.Combine(SharedExamples, "community.yaml");
        var campaigns = Path.Combine(SharedExamples, "campaigns.yaml");

        Assert.That(result.Warnings.Select(w => w.ToString()), Is.EquivalentTo(new[]
        {
            $"{campaigns}:3:5: warning: channel robot without robot_key: the group robot's webhook key is needed to post",
            $"{campaigns}:18:5: warning: channel mass_message: WeCom gives a group task only to the group's owner, so a post 'by' an account that does not own the group is refused (fail_list) and recorded failed",
            $"{campaigns}:24:7: warning: channel mass_message: under a 1-per-day receiving cap these 2 posts spread over 2 days, and each waits for its sender to confirm it",
            $"{community}:3:5: warning: channel robot without robot_key: the group robot's webhook key is needed to post",
        }));
    }

    [Test]
    public void Version_follows_the_file_contents()
    {
        using var folder = new RuleFolder().Write("a.yaml", "replies:\n  - name: r\n    when: { keywords: [hi] }\n    message: { text: hello }\n");
        var first = RuleLoader.Load(folder.Path).RuleSet!.Version;
        var again = RuleLoader.Load(folder.Path).RuleSet!.Version;
        folder.Write("a.yaml", "replies:\n  - name: r\n    when: { keywords: [hi] }\n    message: { text: hello! }\n");
        var edited = RuleLoader.Load(folder.Path).RuleSet!.Version;

        Assert.That(again, Is.EqualTo(first));
        Assert.That(edited, Is.Not.EqualTo(first));
    }

    [Test]
    public void Files_of_both_extensions_merge_in_file_name_order_and_others_are_ignored()
    {
        using var folder = new RuleFolder()
            .Write("b.yml", "welcome:\n  - name: second\n    message: { text: b }\n")
            .Write("a.yaml", "welcome:\n  - name: first\n    message: { text: a }\n")
            .Write("notes.txt", "not: [yaml")
            .Write(".#a.yaml", "broken: [");

        var rules = RuleLoader.Load(folder.Path).RuleSet!;

        Assert.That(rules.Welcome.Select(r => r.Source.Name), Is.EqualTo(new[] { "first", "second" }));
    }

    [Test]
    public void Load_time_comes_from_the_time_provider()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(new DateTimeOffset(2026, 5, 1, 8, 0, 0, TimeSpan.Zero));
        var rules = RuleLoader.Load(SharedExamples, time).RuleSet!;

        Assert.That(rules.LoadedAt, Is.EqualTo(time.GetUtcNow()));
    }
}
