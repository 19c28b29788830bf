using Bot.Core.Outbox;
using Bot.Core.Campaigns.Preflight;
using Bot.Core.RateLimiting;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Bot.Tests.Outbox;

/// <summary>Pre-flight of sends planned in a later calendar period than the one the counters are read in.</summary>
public sealed class QuotaPreflightPeriodTests
{
    [Test]
    public async Task Posts_planned_next_month_are_counted_against_next_months_days_under_days_in_month()
    {
        // 30 November in Shanghai; the posts are planned for 1 December, a 31-day month.
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 30, 10, 0, 0, TimeSpan.FromHours(8)));
        var options = Options.Create(new QuotaOptions { MassMessageReceivingRule = MassMessageReceivingRule.DaysInMonthPerMonth });
        var preflight = new QuotaPreflight(new InProcessQuotaLimiter(options, time), new QuotaCatalog(options, time), options, time);
        var december = new DateTimeOffset(2026, 12, 1, 9, 0, 0, TimeSpan.FromHours(8));
        // 32 senders, one post each, so only the group's receiving rule can hold one back.
        var items = Enumerable.Range(0, 32)
            .Select(i => new PreflightItem(OutboxKinds.Broadcast, "wrMonthly",
                new QuotaSubject(QuotaRules.AddMsgTemplate, Sender: $"guide{i:00}", ChatIds: ["wrMonthly"]), december.AddMinutes(i)))
            .ToList();

        var report = (await preflight.CheckAsync(items, CancellationToken.None))!;

        Assert.Multiple(() =>
        {
            Assert.That(report.Allowed, Is.EqualTo(31), "December allows 31, not November's 30");
            Assert.That(report.Targets[^1].Status, Is.EqualTo(PreflightStatus.Skipped));
            Assert.That(report.Targets[^1].BlockedBy, Is.EqualTo(QuotaRules.GroupMassReceiving));
            Assert.That(report.Targets[^1].At, Is.EqualTo(new DateTimeOffset(2027, 1, 1, 0, 0, 0, TimeSpan.FromHours(8))));
            Assert.That(report.Targets[0].ReceivingRuleRemaining, Is.EqualTo(30));
        });
    }
}
