using System.Diagnostics.Metrics;

namespace Bot.Core.WeCom.Api;

/// <summary>WeCom API counters on the product meter: calls by api and errcode, latency, token refreshes.</summary>
internal sealed class WeComApiMetrics
{
    public const string MeterName = "WeComBot";

    private readonly Counter<long> _calls;
    private readonly Histogram<double> _duration;
    private readonly Counter<long> _tokenRefreshes;

    public WeComApiMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _calls = meter.CreateCounter<long>("bot.wecom.calls", description: "WeCom API attempts by api and errcode (local codes ≤ -1000).");
        _duration = meter.CreateHistogram<double>("bot.wecom.call.duration", unit: "s", description: "Latency of one WeCom API attempt.");
        _tokenRefreshes = meter.CreateCounter<long>("bot.wecom.token.refreshes", description: "gettoken calls made by this instance, by outcome.");
    }

    public void RecordAttempt(string api, int errCode, TimeSpan elapsed)
    {
        var apiTag = new KeyValuePair<string, object?>("api", api);
        _calls.Add(1, apiTag, new KeyValuePair<string, object?>("errcode", errCode));
        _duration.Record(elapsed.TotalSeconds, apiTag);
    }

    public void RecordTokenRefresh(string outcome) => _tokenRefreshes.Add(1, new KeyValuePair<string, object?>("outcome", outcome));
}
