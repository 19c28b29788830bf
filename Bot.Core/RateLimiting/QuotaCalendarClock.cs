namespace Bot.Core.RateLimiting;

/// <summary>
/// Calendar periods in the configured time zone. WeCom's receiving caps and penalties count natural days and months
/// ("自然月", "day ⇒ natural day", FACTS §6.1/§6.3), so a rolling 24 h would both refuse sends WeCom allows after
/// midnight and, for "days in month", have no defined limit; calendar windows match WeCom and use the whole quota.
/// </summary>
internal sealed class QuotaCalendarClock(TimeZoneInfo zone)
{
    public static QuotaCalendarClock From(QuotaOptions options) =>
        new(TimeZoneInfo.FindSystemTimeZoneById(options.TimeZone));

    public TimeZoneInfo Zone => zone;

    /// <summary>The period holding <paramref name="nowMs"/>, as Unix milliseconds [start, end).</summary>
    public (long StartMs, long EndMs) PeriodOf(QuotaCalendar period, long nowMs)
    {
        var local = TimeZoneInfo.ConvertTime(DateTimeOffset.FromUnixTimeMilliseconds(nowMs), zone).DateTime.Date;
        var start = period switch
        {
            QuotaCalendar.Day => local,
            // Weeks start on Monday, as in China and ISO 8601.
            QuotaCalendar.Week => local.AddDays(-(((int)local.DayOfWeek + 6) % 7)),
            QuotaCalendar.Month => new DateTime(local.Year, local.Month, 1),
            _ => throw new ArgumentOutOfRangeException(nameof(period), period, "Not a calendar period."),
        };
        var end = period switch
        {
            QuotaCalendar.Day => start.AddDays(1),
            QuotaCalendar.Week => start.AddDays(7),
            _ => start.AddMonths(1),
        };
        return (ToUnixMs(start), ToUnixMs(end));
    }

    /// <summary>
    /// What the tenant's receiving rule allows one customer or group in the period holding <paramref name="at"/>:
    /// the limit and the calendar period it counts in. The month's limit is its own number of days.
    /// </summary>
    public (int Limit, QuotaCalendar Period) ReceivingAllowance(MassMessageReceivingRule rule, DateTimeOffset at) => rule switch
    {
        MassMessageReceivingRule.SevenPerWeek => (7, QuotaCalendar.Week),
        MassMessageReceivingRule.DaysInMonthPerMonth => (DaysInMonth(at), QuotaCalendar.Month),
        _ => (1, QuotaCalendar.Day),
    };

    public int DaysInMonth(DateTimeOffset now)
    {
        var local = TimeZoneInfo.ConvertTime(now, zone);
        return DateTime.DaysInMonth(local.Year, local.Month);
    }

    private long ToUnixMs(DateTime localMidnight)
    {
        // A zone whose DST jump skips midnight has no such local time; the period then starts when the day does.
        while (zone.IsInvalidTime(localMidnight))
        {
            localMidnight = localMidnight.AddMinutes(30);
        }
        var utc = TimeZoneInfo.ConvertTimeToUtc(DateTime.SpecifyKind(localMidnight, DateTimeKind.Unspecified), zone);
        return new DateTimeOffset(utc, TimeSpan.Zero).ToUnixTimeMilliseconds();
    }
}

/// <summary>Sliding-window arithmetic shared by both limiters, so they agree to the millisecond.</summary>
internal static class SlidingWindow
{
    /// <summary>
    /// A window is counted in this many buckets plus the current one. An acquisition keeps counting until its whole
    /// bucket has left the window, so no interval of one window length ever holds more than the limit, whatever
    /// WeCom's own window alignment is; the price is at most 1/60 of the window of unused quota. Exact sliding logs
    /// would need 150,000 entries for the hourly API counter; GCRA and token buckets let 2N-1 through in one window.
    /// </summary>
    public const int Buckets = 60;

    public static long BucketMs(TimeSpan window)
    {
        var ms = (long)Math.Ceiling(window.TotalMilliseconds / Buckets);
        return Math.Max(ms, 1);
    }

    /// <summary>When a unit taken in bucket <paramref name="index"/> stops counting.</summary>
    public static long ExpiresAtMs(long index, long bucketMs) => (index + Buckets + 1) * bucketMs;
}
