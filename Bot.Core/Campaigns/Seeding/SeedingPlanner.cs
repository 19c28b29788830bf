using Bot.Core.RateLimiting;

namespace Bot.Core.Campaigns.Seeding;

/// <summary>One step of a run as stored: when it is due and, when it was moved, why.</summary>
public sealed record PlannedPost(int Step, string By, string Text, DateTimeOffset DueAt, string? Note);

/// <summary>
/// Turns a script and a start time into the stored schedule of one run. Pure: the clock, the randomness and the
/// group's other planned mass messages come in as arguments, so the schedule an operator sees is the one that runs.
/// Quiet hours are read in the rules' local time zone; receiving-rule periods are WeCom's, in the quota calendar the
/// limiter counts in, so the plan and the dispatcher agree on when a period ends.
/// </summary>
internal static class SeedingPlanner
{
    /// <summary>Posts of one run keep their order and stand at least this far apart after jitter.</summary>
    public static readonly TimeSpan MinimumGap = TimeSpan.FromMinutes(1);

    public static IReadOnlyList<PlannedPost> Plan(
        SeedingScript script,
        DateTimeOffset start,
        TimeZoneInfo localZone,
        QuotaCalendarClock weComCalendar,
        MassMessageReceivingRule rule,
        IReadOnlyCollection<DateTimeOffset> otherMassPostsToGroup,
        Func<double> nextUnitRandom)
    {
        var planned = new List<PlannedPost>(script.Posts.Count);
        var taken = new List<DateTimeOffset>(otherMassPostsToGroup);
        DateTimeOffset? previous = null;
        for (var i = 0; i < script.Posts.Count; i++)
        {
            var step = script.Posts[i];
            // Uniform in [-jitter, +jitter].
            var jitter = TimeSpan.FromTicks((long)((nextUnitRandom() * 2 - 1) * script.Jitter.Ticks));
            var due = start + step.After + jitter;
            if (previous is { } prev && due < prev + MinimumGap)
            {
                due = prev + MinimumGap;
            }
            var notes = new List<string>();
            for (var guard = 0; guard < 400; guard++)
            {
                var local = TimeZoneInfo.ConvertTime(due, localZone).DateTime;
                if (script.QuietHours is { } quiet && quiet.Contains(TimeOnly.FromDateTime(local)))
                {
                    local = quiet.EndOf(local);
                    due = new DateTimeOffset(local, localZone.GetUtcOffset(local));
                    notes.Add($"waits out quiet hours until {local:yyyy-MM-dd HH:mm}");
                }
                if (!script.CountsAgainstReceivingRule)
                {
                    break;
                }
                var (capacity, period) = weComCalendar.ReceivingAllowance(rule, due);
                var (startMs, endMs) = weComCalendar.PeriodOf(period, due.ToUnixTimeMilliseconds());
                var periodStart = DateTimeOffset.FromUnixTimeMilliseconds(startMs);
                var periodEnd = DateTimeOffset.FromUnixTimeMilliseconds(endMs);
                if (taken.Count(t => t >= periodStart && t < periodEnd) < capacity)
                {
                    break;
                }
                due = periodEnd;
                notes.Add($"moved to {TimeZoneInfo.ConvertTime(due, localZone):yyyy-MM-dd}: the group's receiving rule ({rule}) is used up before then");
            }
            taken.Add(due);
            planned.Add(new PlannedPost(i, step.By, step.Text, due, notes.Count == 0 ? null : string.Join("; ", notes)));
            previous = due;
        }
        return planned;
    }
}
