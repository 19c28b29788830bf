using System.Net.Http.Json;
using Bot.Core.Outbox;
using Bot.Core.Campaigns.MassMessages;
using Bot.Core.RateLimiting;
using Bot.Core.Storage;
using Bot.Tests.Fixtures;
using Dapper;

namespace Bot.Tests.Admin;

public sealed class MassMessageAdminTests
{
    [Test]
    public async Task Mass_messages_lists_tracked_tasks_with_their_state_and_recipient_counts()
    {
        using var app = new BotApp();
        using var client = app.CreateAdminClient();
        var now = app.Service<TimeProvider>().GetUtcNow();
        var enqueued = await app.Service<OutboxWriter>().EnqueueAsync(new OutboxRequest
        {
            Kind = OutboxKinds.Broadcast,
            Target = "zhangsan",
            Payload = "{}",
            IdempotencyKey = "admin-mass-1",
            QuotaSubject = new QuotaSubject("externalcontact/add_msg_template", Sender: "zhangsan"),
            // Not due, so the host's running dispatcher never claims it while the test marks it sent.
            NotBefore = now.AddDays(1),
        }, CancellationToken.None);
        await using (var connection = await app.Service<BotDatabase>().OpenAsync(CancellationToken.None))
        {
            // As the dispatcher leaves it once add_msg_template answered with a msgid.
            await connection.ExecuteAsync(
                "UPDATE outbox SET state = 'sent', remote_ids = 'msgAdmin', completed_at = @Now WHERE id = @Id",
                new { Now = now.ToUnixTimeMilliseconds(), enqueued.Id });
        }
        var store = app.Service<MassMessageStore>();
        // The host's own tracker may discover it first; either way it is tracked exactly once.
        await store.DiscoverAsync(now, now.AddHours(-2), CancellationToken.None);
        Assert.That((await store.ListAsync(null, 10, CancellationToken.None)).Select(t => t.OutboxId), Is.EqualTo(new[] { enqueued.Id }));
        await store.RecordProgressAsync(enqueued.Id, 1, 1,
        [
            new MassMessageRecipient { Sender = "zhangsan", Recipient = "wmA", Status = 1 },
            new MassMessageRecipient { Sender = "zhangsan", Recipient = "wmB", Status = 1 },
            new MassMessageRecipient { Sender = "zhangsan", Recipient = "wmC", Status = 3 },
        ], CancellationToken.None);

        var tasks = await client.GetFromJsonAsync<List<MassMessageTaskView>>("/admin/mass-messages");

        Assert.That(tasks, Has.Count.EqualTo(1));
        Assert.Multiple(() =>
        {
            Assert.That(tasks![0].MsgId, Is.EqualTo("msgAdmin"));
            Assert.That(tasks[0].State, Is.EqualTo(MassMessageState.Pending));
            Assert.That((tasks[0].RecipientsSent, tasks[0].RecipientsAlreadyReceived), Is.EqualTo((2, 1)));
        });
        Assert.That(await client.GetFromJsonAsync<List<MassMessageTaskView>>("/admin/mass-messages?state=stale"), Is.Empty);
    }
}
