using System.Globalization;

namespace Bot.Core.Rules;

/// <summary>A local-time window "HH:mm-HH:mm", start inclusive, end exclusive; it wraps midnight when end &lt; start.</summary>
internal readonly record struct TimeWindow(TimeOnly Start, TimeOnly End)
{
    public bool Contains(TimeOnly time) =>
        Start < End ? time >= Start && time < End : time >= Start || time < End;

    /// <summary>The end of the window that holds <paramref name="local"/> (for "wait until quiet hours end").</summary>
    public DateTime EndAfter(DateTime local)
    {
        var end = local.Date + End.ToTimeSpan();
        return end > local ? end : end.AddDays(1);
    }

    public static bool TryParse(string text, out TimeWindow window, out string? error)
    {
        window = default;
        error = null;
        var parts = text.Split('-');
        if (parts.Length != 2
            || !TimeOnly.TryParseExact(parts[0].Trim(), "HH:mm", CultureInfo.InvariantCulture, DateTimeStyles.None, out var start)
            || !TimeOnly.TryParseExact(parts[1].Trim(), "HH:mm", CultureInfo.InvariantCulture, DateTimeStyles.None, out var end))
        {
            error = $"bad time window \"{text}\": expected \"HH:mm-HH:mm\", e.g. \"09:00-22:00\"";
            return false;
        }
        if (start == end)
        {
            error = $"bad time window \"{text}\": start and end are equal, so it is either empty or the whole day; leave it out for the whole day";
            return false;
        }
        window = new TimeWindow(start, end);
        return true;
    }

    public override string ToString() => $"{Start:HH\\:mm}-{End:HH\\:mm}";
}
