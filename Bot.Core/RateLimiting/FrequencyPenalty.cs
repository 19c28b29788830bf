namespace Bot.Core.RateLimiting;

/// <summary>
/// What a 45009 (API frequency over limit) pauses, and for how long. Doc 90454 (访问频率限制, 2023-08-28; FACTS §6.1):
/// "按分钟拦截则被屏蔽60秒，按小时拦截则被屏蔽60分钟" — a minute limit blocks the API for 60 s, an hour limit for 60 min.
/// WeCom's answer does not say which limit was hit: its errmsg is "api freq out of limit, hint: […], from ip: …" for
/// both (FACTS §7, and every errmsg we found). So the bot tells them apart itself, by either of two signs:
/// <list type="number">
/// <item>A repeat: a call admitted after the 60 s minute pause had ended is refused again within the hour. A minute
/// block would have lifted by then, so WeCom is holding an hour block. (Calls already in flight at the first refusal
/// only repeat it; <see cref="IQuotaLimiter.RecordRefusalAsync"/> counts refusals across instances.)</item>
/// <item>Our own per-hour counter for the API has less than one minute's allowance left: the hour limit is the one
/// within reach. Our counters see only this bot's calls, so this sign can come late, never early; the repeat catches
/// hour limits filled by other apps of the corp.</item>
/// </list>
/// A minute refusal pauses the API's per-minute counter for 60 s; an hour refusal pauses its per-hour counter for
/// 60 minutes (from the refusal that showed it, so at most one minute past WeCom's own block). Robot webhooks have
/// one documented limit (20/min per robot, FACTS §5.11) and undocumented windows (§8 item 3): their robot counter is
/// paused, by the same rule. Nothing is dropped: the item waits for the pause.
/// </summary>
public sealed class FrequencyPenalty(IQuotaLimiter limiter)
{
    /// <summary>Doc 90454: the block after a minute limit.</summary>
    public static readonly TimeSpan MinuteBlock = TimeSpan.FromSeconds(60);

    /// <summary>Doc 90454: the block after an hour limit.</summary>
    public static readonly TimeSpan HourBlock = TimeSpan.FromMinutes(60);

    /// <summary>The rule name of the refusal records (not a configurable quota).</summary>
    public const string RefusalsRule = "frequency-refusals";

    /// <summary>
    /// The keys to pause and the pause after WeCom answered 45009 for a call that passed <paramref name="limits"/>,
    /// admitted at <paramref name="admittedAt"/>; null when the limits hold no frequency counter (rules switched off),
    /// and the caller pauses what it would otherwise.
    /// </summary>
    public async ValueTask<(IReadOnlyList<QuotaKey> Keys, TimeSpan Pause, bool HourLimit)?> DecideAsync(
        IReadOnlyList<QuotaLimit> limits, DateTimeOffset admittedAt, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(limits);
        var robot = limits.FirstOrDefault(l => l.Key.Rule == QuotaRules.RobotPerMinute);
        var perMinute = robot ?? limits.FirstOrDefault(l => l.Key.Rule == QuotaRules.ApiPerMinute);
        if (perMinute is null)
        {
            return null;
        }
        var perHour = robot is null ? limits.FirstOrDefault(l => l.Key.Rule == QuotaRules.ApiPerHour) : null;
        var refusals = await limiter.RecordRefusalAsync(
            new QuotaKey(RefusalsRule, perMinute.Key.ToString()), admittedAt, MinuteBlock, HourBlock, cancellationToken);
        var hour = refusals >= 2 || await NearHourLimitAsync(perHour, perMinute, cancellationToken);
        return hour
            ? ([(perHour ?? perMinute).Key], HourBlock, true)
            : ([perMinute.Key], MinuteBlock, false);
    }

    private async ValueTask<bool> NearHourLimitAsync(QuotaLimit? perHour, QuotaLimit perMinute, CancellationToken cancellationToken)
    {
        if (perHour is null)
        {
            return false;
        }
        var usage = await limiter.PeekAsync([perHour], cancellationToken);
        return usage is [var hour] && hour.Remaining < perMinute.Limit;
    }
}
