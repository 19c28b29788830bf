using Bot.Core.Outbox;
using Bot.Core.RateLimiting;

namespace Bot.Tests.Outbox;

public sealed class QuotaWaitSlotsTests
{
    private static readonly DateTimeOffset Frees = new(2026, 11, 23, 8, 0, 0, TimeSpan.Zero);
    private static readonly QuotaLimit TwoPerTenSeconds = new(new QuotaKey("api-per-minute", "externalcontact/mark_tag"), 2, TimeSpan.FromSeconds(10));

    [Test]
    public void A_backlog_behind_a_sliding_quota_is_handed_out_window_by_window()
    {
        var slots = new QuotaWaitSlots();
        var refused = new QuotaDecision(QuotaDecisionKind.Wait, TimeSpan.FromSeconds(3), TwoPerTenSeconds.Key);

        var times = Enumerable.Range(0, 5).Select(_ => slots.Next(refused, [TwoPerTenSeconds], Frees)).ToList();

        Assert.That(times, Is.EqualTo(new[] { Frees, Frees, Frees.AddSeconds(10), Frees.AddSeconds(10), Frees.AddSeconds(20) }));
    }

    [Test]
    public void Once_the_schedule_has_passed_a_refused_item_gets_the_time_the_next_unit_frees()
    {
        var slots = new QuotaWaitSlots();
        var refused = new QuotaDecision(QuotaDecisionKind.Wait, TimeSpan.FromSeconds(3), TwoPerTenSeconds.Key);
        for (var i = 0; i < 3; i++)
        {
            slots.Next(refused, [TwoPerTenSeconds], Frees);
        }

        var later = Frees.AddMinutes(1);

        Assert.That(slots.Next(refused, [TwoPerTenSeconds], later), Is.EqualTo(later));
    }

    [Test]
    public void Calendar_quotas_and_unknown_keys_wait_only_for_the_time_given()
    {
        var slots = new QuotaWaitSlots();
        var daily = QuotaLimit.PerCalendar(new QuotaKey("group-mass-receiving", "wrA"), 1, QuotaCalendar.Day);
        var byCalendar = new QuotaDecision(QuotaDecisionKind.Wait, TimeSpan.FromHours(5), daily.Key);
        var byOther = new QuotaDecision(QuotaDecisionKind.Wait, TimeSpan.FromSeconds(1), new QuotaKey("other", "x"));

        Assert.Multiple(() =>
        {
            Assert.That(Enumerable.Range(0, 3).Select(_ => slots.Next(byCalendar, [daily], Frees)), Is.All.EqualTo(Frees));
            Assert.That(Enumerable.Range(0, 3).Select(_ => slots.Next(byOther, [TwoPerTenSeconds], Frees)), Is.All.EqualTo(Frees));
        });
    }
}
