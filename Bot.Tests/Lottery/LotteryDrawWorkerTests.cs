using Bot.Core.Campaigns.Lottery;
using Microsoft.Extensions.Time.Testing;

namespace Bot.Tests.Lottery;

/// <summary>
/// When the running draw worker wakes up around a draw time, on a fake clock. A draw is due at its `draws` time, so
/// whatever the poll interval and wherever a wake-up lands, it happens within a second of that time.
/// </summary>
public sealed class LotteryDrawWorkerTests
{
    private static readonly DateTimeOffset Draws = LotteryServiceTests.Coffee().Draws;
    private static readonly TimeSpan OneSecond = TimeSpan.FromSeconds(1);

    private TempDatabase _db = null!;
    private LotteryTestHost? _host;

    [SetUp]
    public void CreateDatabase() => _db = new TempDatabase();

    [TearDown]
    public async Task DisposeHostAndDatabase()
    {
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }
        _db.Dispose();
    }

    /// <summary>A host with one entrant in the open lottery, its worker started and asleep.</summary>
    private async Task<LotteryTestHost> SleepingWorkerAsync(FakeTimeProvider time, TimeSpan pollInterval)
    {
        _host = await LotteryTestHost.CreateAsync(_db.File, time, settings: new Dictionary<string, string?>
        {
            ["Lottery:PollInterval"] = pollInterval.ToString("c"),
        });
        Assert.That(await _host.Service.SyncDefinitionsAsync([LotteryServiceTests.Coffee()], CancellationToken.None), Is.Empty);
        Assert.That(await _host.Service.EnterAsync("weekend-coffee", "wm-alice", "chat-vip-1", ["生命周期/新客"], "keyword", CancellationToken.None),
            Is.EqualTo(LotteryEntryOutcome.Entered));
        await _host.StartAsync();
        await _host.WorkerAsleepAsync();
        Assert.That(_host.Announced, Is.Empty, "nothing is drawn before its time");
        return _host;
    }

    private static async Task<LotteryDrawResult> DrawnAsync(LotteryTestHost host, string because)
    {
        try
        {
            return await host.FirstAnnounced.Task.WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (TimeoutException)
        {
            Assert.Fail($"the worker did not draw by {host.Time.GetUtcNow():O} ({because}); draw time {Draws:O}");
            throw;
        }
    }

    [Test]
    public async Task A_wake_up_exactly_at_the_draw_time_draws_then_on_time()
    {
        var time = new FakeTimeProvider(Draws.AddSeconds(-30));
        var host = await SleepingWorkerAsync(time, TimeSpan.FromMinutes(1));

        time.SetUtcNow(Draws);
        var result = await DrawnAsync(host, "it woke exactly at the draw time");

        Assert.That(result.DrawnAt, Is.EqualTo(Draws));
        Assert.That(result.Late, Is.False);
    }

    [Test]
    public async Task A_poll_interval_much_longer_than_the_time_to_the_draw_still_wakes_at_the_draw_time()
    {
        var time = new FakeTimeProvider(Draws.AddSeconds(-30));
        var host = await SleepingWorkerAsync(time, TimeSpan.FromHours(1));

        time.SetUtcNow(Draws);
        var result = await DrawnAsync(host, "a one-hour poll interval with the draw 30 s away");

        Assert.That(result.DrawnAt, Is.EqualTo(Draws));
        Assert.That(result.Late, Is.False);
    }

    /// <summary>
    /// The poll tick lands <paramref name="msBefore"/> ms before the draw time, and the clock moves on by 1 ms with
    /// every reading, as real time does while a pass queries the store. However the readings of that pass straddle the
    /// draw time, the worker must not then sleep a whole poll interval: by one second after the draw time it has drawn.
    /// </summary>
    [TestCase(1, "00:01:00")]
    [TestCase(2, "00:01:00")]
    [TestCase(3, "00:01:00")]
    [TestCase(4, "00:01:00")]
    [TestCase(6, "00:01:00")]
    [TestCase(2, "01:00:00")]
    [TestCase(3, "01:00:00")]
    public async Task A_poll_tick_a_moment_before_the_draw_time_draws_within_a_second_of_it(int msBefore, string poll)
    {
        var pollInterval = TimeSpan.Parse(poll, System.Globalization.CultureInfo.InvariantCulture);
        var tick = Draws.AddMilliseconds(-msBefore);
        // Started one poll interval before the tick: the draw is further off than that, so the worker sleeps exactly
        // one poll interval and its timer fires at the tick.
        var time = new FakeTimeProvider(tick - pollInterval);
        var host = await SleepingWorkerAsync(time, pollInterval);

        time.AutoAdvanceAmount = TimeSpan.FromMilliseconds(1);
        time.SetUtcNow(tick);
        await host.WorkerAsleepAsync();
        time.AutoAdvanceAmount = TimeSpan.Zero;
        if (time.GetUtcNow() < Draws + OneSecond)
        {
            time.SetUtcNow(Draws + OneSecond);
        }
        var result = await DrawnAsync(host, $"its poll tick came {msBefore} ms before the draw time");

        Assert.That(result.DrawnAt, Is.GreaterThanOrEqualTo(Draws).And.LessThanOrEqualTo(Draws + OneSecond));
        Assert.That(result.Late, Is.False);
        Assert.That(host.Announced, Has.Count.EqualTo(1));
    }
}
