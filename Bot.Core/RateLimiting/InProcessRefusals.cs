using System.Collections.Concurrent;

namespace Bot.Core.RateLimiting;

/// <summary>
/// The in-process limiter's 45009 refusal records (<see cref="IQuotaLimiter.RecordRefusalAsync"/>), with the same
/// arithmetic as the Redis script. Each record has its own lock.
/// </summary>
internal sealed class InProcessRefusals
{
    private readonly ConcurrentDictionary<QuotaKey, Entry> _records = new();

    public int Record(QuotaKey key, long nowMs, long admittedAtMs, TimeSpan pause, TimeSpan window)
    {
        var record = _records.GetOrAdd(key, static _ => new Entry());
        lock (record)
        {
            if (record.Count > 0 && nowMs >= record.ForgetAtMs)
            {
                record.Count = 0;
            }
            // A call admitted before the last distinct refusal's pause ended was in flight then: the same refusal.
            if (record.Count > 0 && admittedAtMs < record.PauseEndMs)
            {
                return record.Count;
            }
            record.Count++;
            record.PauseEndMs = nowMs + (long)Math.Ceiling(pause.TotalMilliseconds);
            record.ForgetAtMs = record.PauseEndMs + (long)Math.Ceiling(window.TotalMilliseconds);
            return record.Count;
        }
    }

    public void Sweep(long nowMs)
    {
        foreach (var pair in _records)
        {
            lock (pair.Value)
            {
                // Removed only when forgotten: a refusal racing the removal can then only lose a record that says nothing.
                if (nowMs >= pair.Value.ForgetAtMs)
                {
                    _records.TryRemove(pair);
                }
            }
        }
    }

    private sealed class Entry
    {
        public int Count;
        public long PauseEndMs;
        public long ForgetAtMs;
    }
}
