using Bot.Core.Outbox;
using Bot.Core.WeCom.Api;

namespace Bot.Tests.Outbox;

/// <summary>What an add_msg_template answer with fail_list makes of an item (FACTS 5.6).</summary>
public sealed class FailListOutcomeTests
{
    [Test]
    public void A_task_whose_every_target_was_refused_fails_with_the_list_and_gives_back_its_allowances()
    {
        var outcome = WeComOutboxSender.MassMessageOutcome(new AddMsgTemplateResult("msg1", ["wmA", "wmB"]), ["wmA", "wmB"]);

        var failed = outcome as OutboxSendOutcome.Failed;
        Assert.That(failed, Is.Not.Null);
        Assert.Multiple(() =>
        {
            Assert.That(failed!.NotApplied, Is.True, "nothing was delivered, so nothing stays spent");
            Assert.That(failed.Message, Does.Contain("无效或无法发送的 external_userid 或 chatid").And.Contain("wmA,wmB"));
        });
    }

    [Test]
    public void A_task_with_targets_left_is_sent_and_names_exactly_the_refused_ones()
    {
        var outcome = WeComOutboxSender.MassMessageOutcome(new AddMsgTemplateResult("msg1", ["wmB", "wmNotOurs"]), ["wmA", "wmB"]);

        var sent = outcome as OutboxSendOutcome.Sent;
        Assert.That(sent, Is.Not.Null);
        Assert.Multiple(() =>
        {
            Assert.That(sent!.RemoteIds, Is.EqualTo("msg1"));
            Assert.That(sent.Refused, Is.EqualTo(new[] { "wmB" }), "an id WeCom lists that the task never had is not ours to record");
            Assert.That(sent.RefusedReason, Does.Contain("wmB").And.Not.Contain("wmNotOurs"));
            Assert.That(sent.NotApplied, Is.False);
        });
    }

    [Test]
    public void An_empty_fail_list_is_a_plain_send()
    {
        var outcome = WeComOutboxSender.MassMessageOutcome(new AddMsgTemplateResult("msg1", []), ["wrG"]);

        Assert.That(outcome, Is.EqualTo(new OutboxSendOutcome.Sent("msg1")));
    }
}
