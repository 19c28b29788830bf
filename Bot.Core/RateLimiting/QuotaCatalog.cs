namespace Bot.Core.RateLimiting;

/// <summary>
/// Turns a <see cref="QuotaSubject"/> into the quota counters it must pass, from the `Quotas` configuration.
/// (Placeholder body: the limiter work fills it from configuration.)
/// </summary>
public sealed class QuotaCatalog
{
    public IReadOnlyList<QuotaLimit> LimitsFor(QuotaSubject subject) =>
        [new QuotaLimit(new QuotaKey("api-per-minute", subject.Api), 10_000, TimeSpan.FromMinutes(1))];
}
