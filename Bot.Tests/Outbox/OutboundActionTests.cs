using System.Text.Json.Nodes;
using Bot.Core.Contacts;
using Bot.Core.Outbox;
using Bot.Core.WeCom.Api;
using Microsoft.Extensions.Time.Testing;

namespace Bot.Tests.Outbox;

public sealed class OutboundActionTests
{
    private static readonly DateTimeOffset At = new(2026, 11, 23, 8, 0, 0, TimeSpan.Zero);

    [Test]
    public void The_stored_kind_names_are_the_ones_rows_already_carry()
    {
        // Rows in existing databases carry these strings; renaming one would strand them.
        Assert.That(OutboxKinds.All.Select(k => k.Name), Is.EquivalentTo(new[]
        {
            "welcome", "tag_change", "reply", "preference_reply", "group_welcome", "lottery_announcement", "seeding_post",
            "broadcast", "group_welcome_template",
        }));
        Assert.That(OutboxKinds.Find("app_message"), Is.Null, "never enqueued, so no longer a kind");
    }

    [Test]
    public void The_contact_budget_defaults_and_exclusions_match_the_kinds()
    {
        Assert.That(new ContactBudgetOptions().Kinds.Keys, Is.EquivalentTo(OutboxKinds.All.Where(k => k.BudgetedByDefault).Select(k => k.Name)));
        Assert.That(ContactBudgetOptions.NeverBudgeted.Select(OutboxKinds.Find), Has.None.Null);
        Assert.That(OutboxKinds.All.Where(k => k.TargetsGroup).Select(k => k.Name),
            Is.EquivalentTo(new[] { OutboxKinds.GroupWelcome, OutboxKinds.LotteryAnnouncement, OutboxKinds.SeedingPost }));
    }

    private static IEnumerable<TestCaseData> Actions()
    {
        var welcome = new SendWelcomeRequest { WelcomeCode = "code1", Text = new MessageText("欢迎") };
        yield return new TestCaseData(new WelcomeMessage("wmA", "guide01", welcome, "qr-1", At)).SetName("welcome");
        yield return new TestCaseData(new TagChange("guide01", "wmA", ["VIP"])).SetName("tag change");
        yield return new TestCaseData(new ReplyMessage("wrG", "wmA", "https://example.test/r", null, "好的", At)).SetName("robot reply");
        yield return new TestCaseData(new ReplyMessage("zhangsan", null, null, "zhangsan", "ok", At)).SetName("app reply");
        yield return new TestCaseData(new ReplyMessage("wmA", "wmA", null, "wmA", "已退订", At, ConfirmsPreference: true)).SetName("preference reply");
        yield return new TestCaseData(new GroupPost(GroupPostPurpose.GroupWelcome, GroupPostChannels.Robot, "wrG", "hi", "k1", null, "batch:1")).SetName("group welcome");
        yield return new TestCaseData(new GroupPost(GroupPostPurpose.LotteryAnnouncement, GroupPostChannels.MassMessage, "wrG", "中奖", null, "owner")).SetName("lottery");
        yield return new TestCaseData(new GroupPost(GroupPostPurpose.SeedingPost, GroupPostChannels.MassMessage, "wrG", "早", null, "trumpet")).SetName("seeding");
        yield return new TestCaseData(new BroadcastMessage(["wmA", "wmB"], false, "guide01", "促销", JsonNode.Parse("""[{"msgtype":"image","image":{"media_id":"m1"}}]""")!.AsArray())).SetName("broadcast");
        yield return new TestCaseData(new GroupWelcomeTemplateUpload("rule-1", new GroupWelcomeTemplate { Text = new MessageText("%NICKNAME% 你好"), Notify = 1 })).SetName("template");
    }

    [TestCaseSource(nameof(Actions))]
    public async Task An_action_stored_through_its_request_reads_back_as_the_same_action(object given)
    {
        var action = (OutboundAction)given;
        await using var rig = await OutboxRig.CreateAsync(new FakeTimeProvider(At));
        var request = OutboxRequest.For(action, "key-1");

        var stored = await rig.Writer.EnqueueAsync(request, CancellationToken.None);
        var item = (await rig.Store.GetAsync(stored.Id, CancellationToken.None))!;
        var read = OutboxKinds.Find(item.Kind)!.Read(item);

        Assert.Multiple(() =>
        {
            Assert.That(read.GetType(), Is.EqualTo(action.GetType()));
            Assert.That(read.Kind, Is.SameAs(action.Kind));
            Assert.That(item.Lane, Is.EqualTo(action.Kind.Lane));
            Assert.That(item.IsIdempotent, Is.EqualTo(action.Kind.IsIdempotent));
            Assert.That(read.ToPayload(), Is.EqualTo(request.Payload));
            Assert.That((read.Target, read.ExternalUserId, read.Deadline), Is.EqualTo((action.Target, action.ExternalUserId, action.Deadline)));
            Assert.That(read.QuotaSubject.Api, Is.EqualTo(action.QuotaSubject.Api));
        });
    }

    [Test]
    public void The_deadline_rules_are_the_welcome_codes_20_s_and_the_response_urls_hour()
    {
        var welcome = OutboxRequest.For(new WelcomeMessage("wmA", "g", new SendWelcomeRequest { WelcomeCode = "c" }, null, At), "k");
        var robot = OutboxRequest.For(new ReplyMessage("wrG", null, "https://example.test/r", null, "t", At), "k");
        var app = OutboxRequest.For(new ReplyMessage("zhangsan", null, null, "zhangsan", "t", At), "k");

        Assert.That(new[] { welcome.Deadline, robot.Deadline, app.Deadline }, Is.EqualTo(new DateTimeOffset?[] { At.AddSeconds(20), At.AddHours(1), null }));
    }
}
