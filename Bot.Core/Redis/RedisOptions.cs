namespace Bot.Core.Redis;

/// <summary>The `Redis` section. An empty configuration means single-instance mode (in-process limiter and token cache).</summary>
public sealed class RedisOptions
{
    public const string Section = "Redis";

    /// <summary>StackExchange.Redis configuration string, e.g. "redis:6379,abortConnect=false".</summary>
    public string Configuration { get; set; } = "";

    /// <summary>Prefix of every key this deployment writes, so several bots can share one Redis.</summary>
    public string KeyPrefix { get; set; } = "wecombot:";

    public bool Enabled => !string.IsNullOrWhiteSpace(Configuration);
}
