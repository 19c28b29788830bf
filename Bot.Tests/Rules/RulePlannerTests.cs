using Bot.Core.Rules;
using Bot.Tests.Fixtures;
using Microsoft.Extensions.Options;

namespace Bot.Tests.Rules;

public sealed class RulePlannerTests
{
    private static readonly RulePlanner Planner = new(Options.Create(new RulesOptions()));
    private static readonly RuleSet Examples = RuleLoader.Load(SharedFiles.Path("examples", "rules")).RuleSet!;

    // Shanghai is UTC+8 all year.
    private static DateTimeOffset Shanghai(int hour, int minute = 0) => new(2026, 11, 28, hour, minute, 0, TimeSpan.FromHours(8));

    private static ContactAddedInput Contact(string? state, DateTimeOffset at, string? welcomeCode = "WC1", string userId = "guide01") =>
        new(userId, "wmCustomer", state, welcomeCode, "王小明", "李店长", at);

    [Test]
    public void Contact_from_a_shanghai_store_by_day_gets_the_store_welcome_and_its_tags()
    {
        var actions = Planner.PlanContactAdded(Examples, Contact("store-sh-001", Shanghai(10)));

        Assert.That(actions, Has.Count.EqualTo(2));
        var welcome = (SendWelcome)actions[0];
        Assert.That(welcome.WelcomeCode, Is.EqualTo("WC1"));
        Assert.That(welcome.Text, Is.EqualTo("您好 王小明，我是李店长，欢迎光临上海门店！回复「抽奖」参加周末抽奖。"));
        Assert.That(welcome.Attachments, Is.EqualTo(new Attachment[]
        {
            new LinkAttachment("新客礼包", "https://shop.example.com/gift?from=store-sh-001", "https://shop.example.com/gift.png", "领取 20 元无门槛券"),
        }));
        Assert.That(welcome.Rule, Is.EqualTo(new RuleRef("shanghai-stores", Path.Combine(SharedFiles.Path("examples", "rules"), "welcome.yaml"), 4, Examples.Version)));
        var tags = (AddTags)actions[1];
        Assert.That((tags.UserId, tags.ExternalUserId), Is.EqualTo(("guide01", "wmCustomer")));
        Assert.That(tags.Tags, Is.EqualTo(new[] { "客户来源/上海门店", "生命周期/新客" }));
    }

    [Test]
    public void State_values_are_url_escaped_inside_link_urls_only()
    {
        var actions = Planner.PlanContactAdded(Examples, Contact("store-sh-a&b", Shanghai(10)));

        var welcome = (SendWelcome)actions[0];
        Assert.That(((LinkAttachment)welcome.Attachments[0]).Url, Is.EqualTo("https://shop.example.com/gift?from=store-sh-a%26b"));
    }

    [TestCase(23, 30)]
    [TestCase(0, 0)]
    [TestCase(8, 59)]
    public void Window_that_wraps_midnight_matches_late_night_and_early_morning(int hour, int minute)
    {
        var actions = Planner.PlanContactAdded(Examples, Contact("store-sh-001", Shanghai(hour, minute)));

        Assert.That(actions[0].Rule.Name, Is.EqualTo("night-owls"));
        Assert.That(((SendWelcome)actions[0]).Text, Is.EqualTo("您好 王小明，李店长 明早 9 点为您服务，先送您一张早鸟券～"));
    }

    [Test]
    public void Window_is_read_in_the_rules_time_zone_not_the_offset_of_the_event()
    {
        // 02:00 UTC is 10:00 in Shanghai: inside 09:00-22:00.
        var actions = Planner.PlanContactAdded(Examples, Contact("store-sh-001", new DateTimeOffset(2026, 11, 28, 2, 0, 0, TimeSpan.Zero)));

        Assert.That(actions[0].Rule.Name, Is.EqualTo("shanghai-stores"));
    }

    [Test]
    public void First_matching_rule_wins_and_a_rule_without_when_catches_the_rest()
    {
        var beijing = Planner.PlanContactAdded(Examples, Contact("store-bj-001", Shanghai(10)));
        var noState = Planner.PlanContactAdded(Examples, Contact(null, Shanghai(10)));

        Assert.That(beijing[0].Rule.Name, Is.EqualTo("default"));
        Assert.That(noState[0].Rule.Name, Is.EqualTo("default"));
        Assert.That(beijing.OfType<SendWelcome>().Single().Text, Is.EqualTo("您好 王小明，我是李店长，很高兴为您服务！"));
    }

    [TestCase(null)]
    [TestCase("")]
    public void Without_a_welcome_code_the_welcome_is_skipped_with_the_reason_but_tags_still_apply(string? code)
    {
        var actions = Planner.PlanContactAdded(Examples, Contact("store-sh-001", Shanghai(10), code));

        var skipped = (WelcomeSkipped)actions[0];
        Assert.That(skipped.Reason, Does.Contain("WeCom omits it when the guide has a welcome message configured"));
        Assert.That(skipped.Rule.Name, Is.EqualTo("shanghai-stores"));
        Assert.That(actions.OfType<AddTags>().Single().Tags, Has.Count.EqualTo(2));
        Assert.That(actions.OfType<SendWelcome>(), Is.Empty);
    }

    [Test]
    public void Guide_glob_picks_the_rule_for_that_guide()
    {
        using var folder = new RuleFolder().Write("w.yaml", """
            welcome:
              - name: team-a
                when: { guide: "a-*" }
                message: { text: "A {{guide.name}}" }
              - name: others
                message: { text: "other" }
            """);
        var rules = RuleLoader.Load(folder.Path).RuleSet!;

        Assert.That(Planner.PlanContactAdded(rules, Contact(null, Shanghai(10), userId: "a-01"))[0].Rule.Name, Is.EqualTo("team-a"));
        Assert.That(Planner.PlanContactAdded(rules, Contact(null, Shanghai(10), userId: "b-01"))[0].Rule.Name, Is.EqualTo("others"));
    }

    // What the preview shows for a message: the planned keyword actions, then the lotteries the candidate rules would enter.
    private static List<PlannedAction> PlanWithLotteries(RuleSet rules, MessageInput input) =>
        [.. Planner.PlanMessage(rules, input), .. RulePlanner.PlanLotteryEntries(rules, input)];

    [Test]
    public void One_pass_over_a_chinese_message_finds_reply_tagging_and_lottery_rules()
    {
        var message = new MessageInput("wmCustomer", "wmCustomer", "wrChat", "VIP 一群", "请问几点开门？我想买拿铁，顺便抽奖", true, Shanghai(12));

        var actions = PlanWithLotteries(Examples, message);

        Assert.That(actions.Select(a => a.GetType().Name + ":" + a.Rule.Name), Is.EqualTo(new[]
        {
            "Reply:opening-hours", "AddTags:coffee-interest", "LotteryKeyword:weekend-coffee",
        }));
        var reply = (Reply)actions[0];
        Assert.That((reply.Text, reply.ChatId), Is.EqualTo(("门店营业时间为每天 10:00-22:00。", "wrChat")));
        Assert.That(((AddTags)actions[1]).Tags, Is.EqualTo(new[] { "兴趣/咖啡" }));
        Assert.That(((LotteryKeyword)actions[2]).ExternalUserId, Is.EqualTo("wmCustomer"));
    }

    [Test]
    public void Lottery_keyword_counts_only_in_matching_groups_while_the_lottery_is_open()
    {
        MessageInput Say(string group, DateTimeOffset at) => new("wmC", "wmC", "wr1", group, "抽奖", true, at);

        Assert.That(PlanWithLotteries(Examples, Say("普通群", Shanghai(12))), Is.Empty);
        Assert.That(PlanWithLotteries(Examples, Say("VIP 一群", Shanghai(9))), Is.Empty);
        Assert.That(PlanWithLotteries(Examples, Say("VIP 一群", Shanghai(20))), Is.Empty);
        Assert.That(PlanWithLotteries(Examples, Say("VIP 一群", Shanghai(19, 59))), Has.Count.EqualTo(1));
    }

    [Test]
    public void Only_the_first_matching_reply_answers_while_every_tagging_rule_applies()
    {
        using var folder = new RuleFolder().Write("r.yaml", """
            replies:
              - name: hours
                when: { keywords: [营业] }
                message: { text: "hours for {{customer.name}}" }
              - name: price
                when: { keywords: [价格] }
                message: { text: price }
            tagging:
              - name: t1
                when: { keywords: [价格] }
                tags: [a/b]
              - name: t2
                when: { keywords: [营业, Coffee] }
                tags: [c/d]
            """);
        var rules = RuleLoader.Load(folder.Path).RuleSet!;

        var actions = Planner.PlanMessage(rules, new MessageInput("wmC", "wmC", null, null, "价格和营业时间? COFFEE", false, Shanghai(12), "小王"));

        Assert.That(actions.Select(a => a.Rule.Name), Is.EqualTo(new[] { "hours", "t1", "t2" }));
        Assert.That(((Reply)actions[0]).Text, Is.EqualTo("hours for 小王"));
    }

    [Test]
    public void A_message_with_no_keyword_plans_nothing()
    {
        Assert.That(Planner.PlanMessage(Examples, new MessageInput("wmC", "wmC", null, null, "你好", false, Shanghai(12))), Is.Empty);
    }

    [Test]
    public void Group_join_tags_every_joiner_and_offers_one_batched_welcome()
    {
        var actions = Planner.PlanGroupJoin(Examples, new GroupJoinInput("wrChat", "VIP 二群", ["wmA", "wmB"], Shanghai(12)));

        Assert.That(actions.OfType<AddTags>().Select(t => (t.ExternalUserId, t.Rule.Name)),
            Is.EqualTo(new[] { ("wmA", "vip-group-member"), ("wmB", "vip-group-member") }));
        var candidate = actions.OfType<GroupWelcomeCandidate>().Single();
        Assert.That((candidate.RuleName, candidate.ChatId, candidate.Batch, candidate.Channel),
            Is.EqualTo(("vip-groups", "wrChat", TimeSpan.FromSeconds(60), GroupChannel.Robot)));
        Assert.That(candidate.Members, Is.EqualTo(new[] { "wmA", "wmB" }));
        Assert.That(candidate.Definition.Render("@甲 @乙", "VIP 二群").Text,
            Is.EqualTo("欢迎 @甲 @乙 加入「VIP 二群」！每周六晚 8 点抽奖，群里发「抽奖」即可参加。"));
    }

    [Test]
    public void Group_join_in_a_group_no_rule_names_plans_nothing()
    {
        Assert.That(Planner.PlanGroupJoin(Examples, new GroupJoinInput("wr", "普通群", ["wmA"], Shanghai(12))), Is.Empty);
    }
}
