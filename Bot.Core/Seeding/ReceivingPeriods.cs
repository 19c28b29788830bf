using Bot.Core.RateLimiting;

namespace Bot.Core.Seeding;

/// <summary>
/// Calendar periods of the tenant's mass-message receiving rule (`Quotas:MassMessageReceivingRule`, FACTS.md §6.3), in
/// local time, for planning posts around the cap: WeCom skips over-cap recipients rather than queueing them.
/// </summary>
internal static class ReceivingPeriods
{
    /// <summary>The calendar period (local start, local end) containing <paramref name="local"/>, and its capacity.</summary>
    public static (DateTime Start, DateTime End, int Capacity) Of(MassMessageReceivingRule rule, DateTime local)
    {
        var day = local.Date;
        switch (rule)
        {
            case MassMessageReceivingRule.OnePerDay:
                return (day, day.AddDays(1), 1);
            case MassMessageReceivingRule.SevenPerWeek:
                // Weeks start on Monday, as the Chinese calendar and the WeCom console count them.
                var monday = day.AddDays(-(((int)day.DayOfWeek + 6) % 7));
                return (monday, monday.AddDays(7), 7);
            default:
                var first = new DateTime(day.Year, day.Month, 1, 0, 0, 0, DateTimeKind.Unspecified);
                return (first, first.AddMonths(1), DateTime.DaysInMonth(day.Year, day.Month));
        }
    }
}
