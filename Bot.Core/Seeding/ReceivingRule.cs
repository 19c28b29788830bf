namespace Bot.Core.Seeding;

/// <summary>
/// The tenant's receiving cap for mass messages (WeCom admin console, 群发助手 - 设置群发规则; FACTS.md §6.3): each
/// customer or customer group receives at most "days in the month" per calendar month (WeCom's default), 7 per week,
/// or 1 per day. Over-cap recipients are skipped by WeCom, not queued, so we plan around the cap instead.
/// </summary>
public enum ReceivingRule
{
    OnePerDay,
    SevenPerWeek,
    DaysInMonthPerMonth,
}

internal static class ReceivingPeriods
{
    /// <summary>The calendar period (local start, local end) containing <paramref name="local"/>, and its capacity.</summary>
    public static (DateTime Start, DateTime End, int Capacity) Of(ReceivingRule rule, DateTime local)
    {
        var day = local.Date;
        switch (rule)
        {
            case ReceivingRule.OnePerDay:
                return (day, day.AddDays(1), 1);
            case ReceivingRule.SevenPerWeek:
                // Weeks start on Monday, as the Chinese calendar and the WeCom console count them.
                var monday = day.AddDays(-(((int)day.DayOfWeek + 6) % 7));
                return (monday, monday.AddDays(7), 7);
            default:
                var first = new DateTime(day.Year, day.Month, 1, 0, 0, 0, DateTimeKind.Unspecified);
                return (first, first.AddMonths(1), DateTime.DaysInMonth(day.Year, day.Month));
        }
    }
}
