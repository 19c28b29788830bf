using Bot.Core.RateLimiting;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Bot.Tests.RateLimiting;

public sealed class InProcessQuotaLimiterTests : QuotaLimiterContractTests
{
    private readonly List<InProcessQuotaLimiter> _created = [];

    protected override IQuotaLimiter CreateLimiter(FakeTimeProvider time, QuotaOptions options)
    {
        var limiter = new InProcessQuotaLimiter(Options.Create(options), time);
        _created.Add(limiter);
        return limiter;
    }

    [TearDown]
    public void DisposeLimiters()
    {
        _created.ForEach(static limiter => limiter.Dispose());
        _created.Clear();
    }

    [Test]
    public async Task Idle_counters_are_swept_and_a_swept_key_counts_afresh()
    {
        var limiter = (InProcessQuotaLimiter)CreateLimiter();
        var limit = new QuotaLimit(NewKey(), 1, TimeSpan.FromSeconds(30));
        var paused = NewKey("paused");
        Assert.That((await AcquireAsync(limiter, limit)).IsAllowed);
        await limiter.PauseAsync(paused, TimeSpan.FromHours(1), CancellationToken.None);

        Time.Advance(TimeSpan.FromMinutes(1)); // the sweep runs once a minute

        Assert.That(limiter.CounterCount, Is.EqualTo(1), "only the paused counter is still needed");
        Assert.That((await AcquireAsync(limiter, limit)).IsAllowed);
        Assert.That((await AcquireAsync(limiter, limit)).Kind, Is.EqualTo(QuotaDecisionKind.Wait));
        Assert.That((await AcquireAsync(limiter, new QuotaLimit(paused, 1, TimeSpan.FromSeconds(1)))).Kind,
            Is.EqualTo(QuotaDecisionKind.Wait));
    }
}
