using System.Collections.Concurrent;
using Bot.Core.RateLimiting;

namespace Bot.Core.Outbox;

/// <summary>
/// Spreads items refused by the same sliding quota over the windows they can actually go in. Released at "when the
/// next unit frees", a backlog of thousands behind one quota (mark_tag's 5 a second) would all wake together each
/// time, a few would pass and the rest be claimed and released again: the dispatcher's slots and the database's
/// writes would go to churn while welcomes wait. Instead the refused items are handed out in windows: the first
/// <c>limit</c> get the time the next unit frees, the next <c>limit</c> one window later, and so on. Slots are per
/// dispatcher and only a schedule: the limiter still decides, and an item that wakes too early is refused and slotted
/// again.
/// </summary>
internal sealed class QuotaWaitSlots
{
    // Schedules whose window has passed are dropped past this many keys (per-customer keys come and go).
    private const int PruneAbove = 10_000;

    private readonly ConcurrentDictionary<QuotaKey, Slot> _slots = new();

    /// <summary>
    /// When the refused item should be tried again: <paramref name="earliest"/> (when the blocking counter frees a unit)
    /// or a later window of that quota once earlier refused items have filled the ones before. Calendar quotas free
    /// everything at the period's end, so their items simply wait for it.
    /// </summary>
    public DateTimeOffset Next(QuotaDecision decision, IReadOnlyList<QuotaLimit> limits, DateTimeOffset earliest)
    {
        if (decision.BlockedBy is not { } key || limits.FirstOrDefault(l => l.Key == key) is not { Calendar: QuotaCalendar.None } limit)
        {
            return earliest;
        }
        var earliestMs = earliest.ToUnixTimeMilliseconds();
        var windowMs = Math.Max(1L, (long)Math.Ceiling(limit.Window.TotalMilliseconds));
        var slot = _slots.AddOrUpdate(key,
            _ => new Slot(earliestMs, 1),
            (_, current) => current.AtMs < earliestMs ? new Slot(earliestMs, 1)
                : current.Taken >= limit.Limit ? new Slot(current.AtMs + windowMs, 1)
                : current with { Taken = current.Taken + 1 });
        if (_slots.Count > PruneAbove)
        {
            foreach (var (k, s) in _slots)
            {
                if (s.AtMs < earliestMs)
                {
                    _slots.TryRemove(new KeyValuePair<QuotaKey, Slot>(k, s));
                }
            }
        }
        return DateTimeOffset.FromUnixTimeMilliseconds(slot.AtMs);
    }

    /// <summary>A window's start and how many refused items it has been given.</summary>
    private readonly record struct Slot(long AtMs, int Taken);
}
