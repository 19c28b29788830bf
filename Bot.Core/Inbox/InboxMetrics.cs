using System.Diagnostics.Metrics;

namespace Bot.Core.Inbox;

/// <summary>Counters of the inbox, recorded after the database write they describe.</summary>
internal sealed class InboxMetrics
{
    public const string MeterName = "WeComBot.Inbox";
    public const string Appended = "bot.inbox.appended";
    public const string WriteBatchSize = "bot.inbox.write_batch.size";
    public const string Handled = "bot.inbox.handled";
    public const string Failed = "bot.inbox.failed";

    private readonly Counter<long> _appended;
    private readonly Histogram<int> _writeBatchSize;
    private readonly Counter<long> _handled;
    private readonly Counter<long> _failed;

    public InboxMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _appended = meter.CreateCounter<long>(Appended, "{callback}", "Callbacks appended to the inbox, by result (stored or duplicate)");
        _writeBatchSize = meter.CreateHistogram<int>(WriteBatchSize, "{callback}", "Appends committed in one transaction");
        _handled = meter.CreateCounter<long>(Handled, "{callback}", "Callbacks every handler completed");
        _failed = meter.CreateCounter<long>(Failed, "{callback}", "Failed handling attempts, by outcome (retry or parked)");
    }

    public void RecordBatch(int stored, int duplicates)
    {
        _writeBatchSize.Record(stored + duplicates);
        if (stored > 0)
        {
            _appended.Add(stored, new KeyValuePair<string, object?>("result", "stored"));
        }
        if (duplicates > 0)
        {
            _appended.Add(duplicates, new KeyValuePair<string, object?>("result", "duplicate"));
        }
    }

    public void RecordHandled() => _handled.Add(1);

    public void RecordFailed(bool parked) => _failed.Add(1, new KeyValuePair<string, object?>("outcome", parked ? "parked" : "retry"));
}
