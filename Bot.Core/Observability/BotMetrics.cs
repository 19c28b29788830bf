using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Bot.Core.Observability;

/// <summary>
/// Every instrument of the bot, on the one "WeComBot" meter (exported for Prometheus at /metrics; deploy/metrics.md
/// lists the exported names), so the names and their tags are reviewed in one place. Each capability's AddXxx
/// registers it the same way (<see cref="ObservabilityServiceCollectionExtensions.AddBotMetrics"/>). Queue depths are
/// sampled by a background pass into fields, because gauge callbacks run synchronously on the scrape and must not
/// query the database.
/// </summary>
public sealed class BotMetrics
{
    public const string MeterName = "WeComBot";

    public const string InboxAppended = "bot.inbox.appended";
    public const string InboxWriteBatchSize = "bot.inbox.write_batch.size";
    public const string InboxHandled = "bot.inbox.handled";
    public const string InboxFailed = "bot.inbox.failed";
    public const string RuleReloads = "bot.rules.reloads";
    public const string ConfigAlarms = "bot.config.alarms";
    public const string PausedRobots = "bot.robots.paused";

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
    private readonly Counter<long> _inboxAppended;
    private readonly Histogram<int> _inboxWriteBatchSize;
    private readonly Counter<long> _inboxHandled;
    private readonly Counter<long> _inboxFailed;
    private readonly Counter<long> _wecomCalls;
    private readonly Histogram<double> _wecomCallDuration;
    private readonly Counter<long> _tokenRefreshes;
    private readonly Counter<long> _ruleReloads;
    private readonly Counter<long> _configAlarms;
    private long _pausedRobots;
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
        _inboxAppended = meter.CreateCounter<long>(InboxAppended, "{callback}", "Callbacks appended to the inbox, by result (stored or duplicate)");
        _inboxWriteBatchSize = meter.CreateHistogram<int>(InboxWriteBatchSize, "{callback}", "Appends committed in one transaction");
        _inboxHandled = meter.CreateCounter<long>(InboxHandled, "{callback}", "Callbacks every handler completed");
        _inboxFailed = meter.CreateCounter<long>(InboxFailed, "{callback}", "Failed handling attempts, by outcome (retry or parked)");
        _wecomCalls = meter.CreateCounter<long>("bot.wecom.calls", description: "WeCom API attempts by api and errcode (local codes ≤ -1000).");
        _wecomCallDuration = meter.CreateHistogram<double>("bot.wecom.call.duration", unit: "s", description: "Latency of one WeCom API attempt.");
        _tokenRefreshes = meter.CreateCounter<long>("bot.wecom.token.refreshes", description: "gettoken calls made by this instance, by outcome.");
        _ruleReloads = meter.CreateCounter<long>(RuleReloads, description: "Rule reloads by outcome (applied, rejected, unchanged)");
        _configAlarms = meter.CreateCounter<long>(ConfigAlarms, "{alarm}", "Configuration alarms raised by this instance, by kind (robot_webhook: 93000)");
        meter.CreateObservableGauge(PausedRobots, () => new Measurement<long>(Interlocked.Read(ref _pausedRobots)), "{robot}",
            "Group robots paused by a configuration alarm, as last read from the database");
        meter.CreateObservableGauge("bot.inbox.depth", () => new Measurement<long>(_queues.InboxPending), description: "Callbacks stored and not yet handled");
        meter.CreateObservableGauge("bot.inbox.parked", () => new Measurement<long>(_queues.InboxParked), description: "Callbacks parked after repeated failures");
        meter.CreateObservableGauge("bot.inbox.oldest_age", () => new Measurement<double>(_queues.InboxOldestAge.TotalSeconds), unit: "s", description: "Age of the oldest unhandled callback");
        meter.CreateObservableGauge("bot.outbox.depth", ObserveOutbox, description: "Outbox items by lane and state");
    }

    public void CallbackReceived(string kind) => _callbacksReceived.Add(1, new KeyValuePair<string, object?>("kind", kind));

    /// <summary>A configuration alarm raised (an operator must act); <paramref name="pausedNow"/> as the store holds them after it.</summary>
    public void ConfigAlarmRaised(string kind, int pausedNow)
    {
        _configAlarms.Add(1, new KeyValuePair<string, object?>("kind", kind));
        RobotsPaused(pausedNow);
    }

    /// <summary>How many robots the shared store holds paused, as last read (the gauge callback must not query it).</summary>
    public void RobotsPaused(int count) => Interlocked.Exchange(ref _pausedRobots, count);

    public void CallbackRejected(string reason) => _callbacksRejected.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void QuotaWait(string rule)
    {
        _quotaWaits.Add(1, new KeyValuePair<string, object?>("rule", rule));
        _quotaWaitTally.AddOrUpdate(rule, 1, static (_, n) => n + 1);
    }

    /// <summary>One inbox group commit: recorded after the transaction, so a rolled-back batch is not counted.</summary>
    public void InboxBatchCommitted(int stored, int duplicates)
    {
        _inboxWriteBatchSize.Record(stored + duplicates);
        if (stored > 0)
        {
            _inboxAppended.Add(stored, new KeyValuePair<string, object?>("result", "stored"));
        }
        if (duplicates > 0)
        {
            _inboxAppended.Add(duplicates, new KeyValuePair<string, object?>("result", "duplicate"));
        }
    }

    public void CallbackHandled() => _inboxHandled.Add(1);

    public void CallbackFailed(bool parked) => _inboxFailed.Add(1, new KeyValuePair<string, object?>("outcome", parked ? "parked" : "retry"));

    public void WeComAttempt(string api, int errCode, TimeSpan elapsed)
    {
        var apiTag = new KeyValuePair<string, object?>("api", api);
        _wecomCalls.Add(1, apiTag, new KeyValuePair<string, object?>("errcode", errCode));
        _wecomCallDuration.Record(elapsed.TotalSeconds, apiTag);
    }

    public void TokenRefreshed(string outcome) => _tokenRefreshes.Add(1, new KeyValuePair<string, object?>("outcome", outcome));

    /// <summary>A rule reload's outcome: applied, rejected, unchanged or failed.</summary>
    public void RulesReloaded(string outcome) => _ruleReloads.Add(1, new KeyValuePair<string, object?>("outcome", outcome));

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
