using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Bot.Core.Observability;

/// <summary>
/// The bot's own instruments, on the "WeComBot" meter (exported for Prometheus at /metrics; deploy/metrics.md lists
/// the exported names). Queue depths are sampled by a background pass into fields, because gauge callbacks run
/// synchronously on the scrape and must not query the database.
/// </summary>
public sealed class BotMetrics
{
    public const string MeterName = "WeComBot";

    /// <summary>Traces across callback → rule → outbox → API call.</summary>
    public static readonly ActivitySource ActivitySource = new(MeterName);

    private readonly Counter<long> _callbacksReceived;
    private readonly Counter<long> _callbacksRejected;
    private readonly Counter<long> _quotaWaits;
    private readonly Counter<long> _lotteryDraws;
    private readonly Counter<long> _welcomeOutcomes;
    private readonly Histogram<double> _welcomeLatency;
    private readonly Counter<long> _outboxOutcomes;
    private readonly Counter<long> _massMessageRecipients;
    private QueueSnapshot _queues = QueueSnapshot.Empty;

    // Since-start tallies for the status page; Prometheus keeps the real history.
    private readonly ConcurrentDictionary<string, long> _quotaWaitTally = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _welcomeTally = new(StringComparer.Ordinal);
    private long _welcomesWithinDeadline;

    public BotMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _callbacksReceived = meter.CreateCounter<long>("bot.callbacks.received", description: "Callbacks accepted and stored, by kind");
        _callbacksRejected = meter.CreateCounter<long>("bot.callbacks.rejected", description: "Callbacks refused, by reason");
        _quotaWaits = meter.CreateCounter<long>("bot.quota.waits", description: "Sends held back by a quota, by rule");
        _lotteryDraws = meter.CreateCounter<long>("bot.lottery.draws", description: "Lottery draws, by lateness");
        _welcomeOutcomes = meter.CreateCounter<long>("bot.welcome.outcomes", description: "Welcome sends by outcome (sent, expired, 41051, 41096, failed), channel and guide");
        _welcomeLatency = meter.CreateHistogram<double>("bot.welcome.latency", unit: "s",
            description: "Callback received to send_welcome_msg answered; WeCom's deadline is 20 s",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 20, 30] });
        _outboxOutcomes = meter.CreateCounter<long>("bot.outbox.outcomes", description: "Outbox items reaching a final state, by kind and state");
        _massMessageRecipients = meter.CreateCounter<long>("bot.mass_message.recipients",
            description: "Mass-message recipient results reported by WeCom (sent, not_sent, not_friend, already_received)");
        meter.CreateObservableGauge("bot.inbox.depth", () => new Measurement<long>(_queues.InboxPending), description: "Callbacks stored and not yet handled");
        meter.CreateObservableGauge("bot.inbox.parked", () => new Measurement<long>(_queues.InboxParked), description: "Callbacks parked after repeated failures");
        meter.CreateObservableGauge("bot.inbox.oldest_age", () => new Measurement<double>(_queues.InboxOldestAge.TotalSeconds), unit: "s", description: "Age of the oldest unhandled callback");
        meter.CreateObservableGauge("bot.outbox.depth", ObserveOutbox, description: "Outbox items by lane and state");
    }

    public void CallbackReceived(string kind) => _callbacksReceived.Add(1, new KeyValuePair<string, object?>("kind", kind));

    public void CallbackRejected(string reason) => _callbacksRejected.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void QuotaWait(string rule)
    {
        _quotaWaits.Add(1, new KeyValuePair<string, object?>("rule", rule));
        _quotaWaitTally.AddOrUpdate(rule, 1, static (_, n) => n + 1);
    }

    public void LotteryDrawn(bool late) => _lotteryDraws.Add(1, new KeyValuePair<string, object?>("late", late));

    public void OutboxFinal(string kind, string state) =>
        _outboxOutcomes.Add(1, new KeyValuePair<string, object?>("kind", kind), new KeyValuePair<string, object?>("state", state));

    /// <summary>One recipient's result (get_groupmsg_send_result status) newly recorded by the mass-message tracker.</summary>
    public void MassMessageRecipient(int status) =>
        _massMessageRecipients.Add(1, new KeyValuePair<string, object?>("status", status switch
        {
            0 => "not_sent",
            1 => "sent",
            2 => "not_friend",
            3 => "already_received",
            _ => "other",
        }));

    /// <summary>Welcome SLA: latency from the callback's arrival, and the outcome, per channel (`state`) and guide.</summary>
    public void WelcomeAnswered(TimeSpan sinceCallback, string outcome, string? channel, string? guide)
    {
        var tags = new TagList
        {
            { "outcome", outcome },
            { "state", channel ?? "" },
            { "guide", guide ?? "" },
        };
        _welcomeOutcomes.Add(1, tags);
        _welcomeTally.AddOrUpdate(outcome, 1, static (_, n) => n + 1);
        if (outcome == "sent")
        {
            _welcomeLatency.Record(sinceCallback.TotalSeconds, tags);
            if (sinceCallback <= WelcomeDeadline)
            {
                Interlocked.Increment(ref _welcomesWithinDeadline);
            }
        }
    }

    /// <summary>A welcome_code is valid for 20 s after the add_external_contact callback (FACTS, send_welcome_msg).</summary>
    public static readonly TimeSpan WelcomeDeadline = TimeSpan.FromSeconds(20);

    /// <summary>Quota waits and welcome outcomes counted by this process since it started, for the status page.</summary>
    public SinceStartTally Tally() => new(
        new SortedDictionary<string, long>(_quotaWaitTally, StringComparer.Ordinal),
        new SortedDictionary<string, long>(_welcomeTally, StringComparer.Ordinal),
        Interlocked.Read(ref _welcomesWithinDeadline));

    public QueueSnapshot Queues => _queues;

    public void UpdateQueues(QueueSnapshot snapshot) => _queues = snapshot;

    private IEnumerable<Measurement<long>> ObserveOutbox()
    {
        foreach (var ((lane, state), count) in _queues.Outbox)
        {
            yield return new Measurement<long>(count, new KeyValuePair<string, object?>("lane", lane), new KeyValuePair<string, object?>("state", state));
        }
    }
}

/// <summary>Queue depths sampled together, so the admin view and /metrics agree.</summary>
public sealed record QueueSnapshot(
    long InboxPending,
    long InboxParked,
    TimeSpan InboxOldestAge,
    IReadOnlyDictionary<(int Lane, string State), long> Outbox,
    DateTimeOffset SampledAt)
{
    public static QueueSnapshot Empty { get; } = new(0, 0, TimeSpan.Zero, new Dictionary<(int, string), long>(), DateTimeOffset.MinValue);
}

/// <param name="QuotaWaits">Sends held back, by quota rule.</param>
/// <param name="WelcomeOutcomes">Welcome sends by outcome (sent, expired, 41051, failed).</param>
/// <param name="WelcomesSentWithinDeadline">Welcomes WeCom accepted within <see cref="BotMetrics.WelcomeDeadline"/> of the callback.</param>
public sealed record SinceStartTally(
    IReadOnlyDictionary<string, long> QuotaWaits,
    IReadOnlyDictionary<string, long> WelcomeOutcomes,
    long WelcomesSentWithinDeadline);
