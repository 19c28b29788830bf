using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Bot.Core.Campaigns.MassMessages;
using Bot.Core.Contacts;
using Bot.Core.Outbox;
using Bot.Tests.Fixtures;

namespace Bot.Tests.EndToEnd;

/// <summary>
/// Broadcasts as WeCom takes them (issue 14, defect 2), through the real host and HTTP: one add_msg_template task per
/// member, customers grouped by the guide who follows them (from the bot's own ledger), chunked at WeCom's limits, and
/// pre-flight showing the same grouping before anything is sent.
/// </summary>
public sealed class BroadcastTasksTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Test]
    public async Task Five_thousand_customers_of_three_guides_are_exactly_three_tasks_and_preflight_shows_them_first()
    {
        using var app = new BotApp();
        FakeWeCom.StubAll(app.WeCom);
        var ledger = app.Service<CustomerLedger>();
        var at = DateTimeOffset.UtcNow;
        var customers = Enumerable.Range(0, 5000).Select(n => $"wmFIVEK{n:D5}").ToArray();
        string GuideOf(int n) => $"guide0{1 + (n % 3)}";
        for (var n = 0; n < customers.Length; n++)
        {
            await ledger.RecordFollowAsync(customers[n], GuideOf(n), at, CancellationToken.None);
        }
        // A customer who follows two guides goes in the task of the one they added last, never in both.
        await ledger.RecordFollowAsync(customers[0], "guide02", at.AddMinutes(1), CancellationToken.None);
        using var admin = app.CreateAdminClient();
        var request = new { name = "winter", text = "冬季新品上市", targetKind = (int)BroadcastTargetKind.Customers, targets = customers };

        using (var preflight = await admin.PostAsJsonAsync("/admin/broadcasts/preflight", request))
        {
            Assert.That(preflight.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            using var report = JsonDocument.Parse(await preflight.Content.ReadAsStringAsync());
            var tasks = report.RootElement.GetProperty("tasks").EnumerateArray()
                .ToDictionary(t => t.GetProperty("sender").GetString()!, t => t.GetProperty("recipients").GetInt32());
            Assert.That(tasks, Is.EquivalentTo(new Dictionary<string, int> { ["guide01"] = 1666, ["guide02"] = 1668, ["guide03"] = 1666 }));
        }
        Assert.That(FakeWeCom.Calls(app.WeCom, "externalcontact/add_msg_template"), Is.Empty, "pre-flight sends nothing");

        using var created = await admin.PostAsJsonAsync("/admin/broadcasts", request);
        Assert.That(created.StatusCode, Is.EqualTo(HttpStatusCode.Created), await created.Content.ReadAsStringAsync());
        var id = (await created.Content.ReadFromJsonAsync<BroadcastSummary>())!.Id;

        var calls = await FakeWeCom.WaitForAsync(app.WeCom, "externalcontact/add_msg_template", count: 3, timeout: Timeout);
        var bodies = calls.Select(FakeWeCom.Json).ToDictionary(b => b.GetProperty("sender").GetString()!,
            b => b.GetProperty("external_userid").EnumerateArray().Select(e => e.GetString()!).ToList());
        var recipients = await BroadcastRecipients.WaitForAsync(app, id, rs => rs.All(r => r.State == Bot.Core.Outbox.OutboxState.Sent), Timeout);
        Assert.Multiple(() =>
        {
            Assert.That(bodies.Keys, Is.EquivalentTo(new[] { "guide01", "guide02", "guide03" }));
            Assert.That(bodies.Values.Sum(v => v.Count), Is.EqualTo(5000));
            Assert.That(bodies.Values.SelectMany(v => v).Distinct().Count(), Is.EqualTo(5000), "each customer is offered once");
            Assert.That(bodies["guide02"], Does.Contain(customers[0]));
            Assert.That(bodies["guide02"], Does.Contain(customers[1]).And.Not.Contain(customers[2]));
            Assert.That(recipients, Has.Count.EqualTo(5000));
        });
        Assert.That(FakeWeCom.Calls(app.WeCom, "externalcontact/add_msg_template"), Has.Count.EqualTo(3), "exactly one task per guide");
    }

    [Test]
    public async Task A_tag_audience_takes_any_tag_of_a_group_and_every_group_and_a_customer_no_guide_follows_is_failed_visibly()
    {
        using var app = new BotApp();
        FakeWeCom.StubAll(app.WeCom);
        var ledger = app.Service<CustomerLedger>();
        var at = DateTimeOffset.UtcNow;
        foreach (var (customer, tags) in new[]
        {
            ("wmTAGA0001", new[] { "渠道/门店海报", "会员/金卡" }),
            ("wmTAGB0001", new[] { "渠道/朋友圈", "会员/金卡" }),
            ("wmTAGC0001", new[] { "渠道/门店海报" }),
            ("wmTAGD0001", new[] { "会员/金卡" }),
        })
        {
            await ledger.RecordFollowAsync(customer, "guide01", at, CancellationToken.None);
            await ledger.RecordTagsAsync(customer, tags, at, CancellationToken.None);
        }
        using var admin = app.CreateAdminClient();

        using var created = await admin.PostAsJsonAsync("/admin/broadcasts", new
        {
            name = "gold", text = "金卡专享", targetKind = (int)BroadcastTargetKind.Customers, tags = new[] { "渠道/门店海报", "渠道/朋友圈", "会员/金卡" },
        });
        Assert.That(created.StatusCode, Is.EqualTo(HttpStatusCode.Created), await created.Content.ReadAsStringAsync());

        var call = (await FakeWeCom.WaitForAsync(app.WeCom, "externalcontact/add_msg_template", timeout: Timeout)).Single();
        Assert.That(FakeWeCom.Json(call).GetProperty("external_userid").EnumerateArray().Select(e => e.GetString()),
            Is.EquivalentTo(new[] { "wmTAGA0001", "wmTAGB0001" }), "(门店海报 OR 朋友圈) AND 金卡");

        // wmTAGC0001 was not in the first broadcast, so its allowance for today is free.
        using var unfollowed = await admin.PostAsJsonAsync("/admin/broadcasts", new
        {
            name = "stranger", text = "你好", targetKind = (int)BroadcastTargetKind.Customers, targets = new[] { "wmTAGC0001", "wmSTRANGER01" },
        });
        var id = (await unfollowed.Content.ReadFromJsonAsync<BroadcastSummary>())!.Id;
        var progress = await Eventually.UntilAsync(
            async () => (await admin.GetFromJsonAsync<JsonElement>($"/admin/broadcasts/{id}")),
            p => p.GetProperty("remaining").GetInt32() == 0, p => p.ToString(), Timeout);
        Assert.That(progress.GetProperty("byState").GetProperty("Failed").GetInt32(), Is.EqualTo(1), "no guide follows wmSTRANGER01: failed, not dropped");
    }

    [Test]
    public async Task Past_ten_thousand_customers_one_guide_gets_a_second_task()
    {
        using var app = new BotApp();
        FakeWeCom.StubAll(app.WeCom);
        var ledger = app.Service<CustomerLedger>();
        var customers = Enumerable.Range(0, BroadcastMessage.MaxCustomers + 5).Select(n => $"wmBIG{n:D6}").ToArray();
        foreach (var customer in customers)
        {
            await ledger.RecordFollowAsync(customer, "guide01", DateTimeOffset.UtcNow, CancellationToken.None);
        }
        var planner = app.Service<BroadcastPlanner>();

        var plan = await planner.PlanAsync(new BroadcastRequest
        {
            Name = "big", Text = "t", TargetKind = BroadcastTargetKind.Customers, Targets = customers,
        }, CancellationToken.None);

        Assert.That(plan.Tasks.Select(t => (t.Sender, t.Recipients.Count)), Is.EqualTo(new[] { ("guide01", 10_000), ("guide01", 5) }));
    }
}
