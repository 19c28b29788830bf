using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Bot.Core.Inbox;

/// <summary>The `Inbox` section.</summary>
public sealed class InboxOptions : IValidatableObject
{
    public const string Section = "Inbox";

    /// <summary>How many due callbacks one worker claims at a time.</summary>
    [Range(1, 10_000)]
    public int BatchSize { get; set; } = 256;

    /// <summary>
    /// How many claimed callbacks a worker handles at once. Handling mostly waits (WeCom look-ups, database writes),
    /// so one at a time falls behind a burst of contacts; callbacks sharing an ordering key still go one by one. 32
    /// keeps up with 1,000 contacts/s on two cores (bench/RESULTS.md).
    /// </summary>
    [Range(1, 256)]
    public int HandlerConcurrency { get; set; } = 32;

    /// <summary>The most waiting appends the writer commits in one transaction.</summary>
    [Range(1, 10_000)]
    public int WriteBatchSize { get; set; } = 256;

    /// <summary>Failed attempts after which a callback is parked for a human.</summary>
    [Range(1, 100)]
    public int MaxAttempts { get; set; } = 8;

    /// <summary>
    /// How long a claimed callback is held before another worker may take it. Callbacks whose handler declares a
    /// deadline (<see cref="ICallbackHandler.Deadlines"/>) are held for at most a quarter of it.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// This instance's name in the leases it takes, the same across its restarts and unique among the instances
    /// running on one database; empty means the host name (a VM, a container restarted in place, a pod). A process
    /// starting under a name takes back at once what an earlier process of that name held when it died.
    /// </summary>
    [RegularExpression("^[A-Za-z0-9._-]{0,64}$", ErrorMessage = "InstanceId takes up to 64 letters, digits, '.', '_' or '-'.")]
    public string InstanceId { get; set; } = "";

    /// <summary>How often a worker looks for due retries and for callbacks stored by other instances.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:10:00")]
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    [Range(typeof(TimeSpan), "00:00:00.001", "01:00:00")]
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(2);

    [Range(typeof(TimeSpan), "00:00:00.001", "1.00:00:00")]
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// How long a handled callback is kept (for back-testing, explain and audits) before it is deleted. Parked and pending
    /// callbacks are never deleted. WeCom retries a callback within minutes, so dedupe needs far less than this.
    /// </summary>
    [Range(typeof(TimeSpan), "1.00:00:00", "3650.00:00:00")]
    public TimeSpan Retention { get; set; } = TimeSpan.FromDays(30);

    /// <summary>How often each instance deletes handled callbacks older than <see cref="Retention"/>.</summary>
    [Range(typeof(TimeSpan), "00:01:00", "1.00:00:00")]
    public TimeSpan PurgeInterval { get; set; } = TimeSpan.FromHours(1);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (RetryBaseDelay > MaxRetryDelay)
        {
            yield return new ValidationResult(
                $"{nameof(RetryBaseDelay)} must not exceed {nameof(MaxRetryDelay)}.", [nameof(RetryBaseDelay), nameof(MaxRetryDelay)]);
        }
    }
}

[OptionsValidator]
internal sealed partial class InboxOptionsValidator : IValidateOptions<InboxOptions>;
