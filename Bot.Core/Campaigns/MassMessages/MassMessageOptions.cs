using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Bot.Core.Campaigns.MassMessages;

/// <summary>The `MassMessages` section: how long a mass-message task may wait for its sender's confirmation.</summary>
public sealed class MassMessageOptions
{
    public const string Section = "MassMessages";

    /// <summary>After this long unconfirmed a task is stale, and a seeding run it belongs to is stopped.</summary>
    [Range(typeof(TimeSpan), "00:01:00", "1.00:00:00")]
    public TimeSpan ConfirmationTimeout { get; set; } = TimeSpan.FromHours(2);

    /// <summary>How often WeCom is asked about each pending task.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Reminders (remind_groupmsg_send) per task, spread evenly over the timeout. WeCom allows at most 3 per task in
    /// 24 h (FACTS 5.6) and the timeout is at most 24 h, hence the cap.
    /// </summary>
    [Range(0, 3)]
    public int MaxReminders { get; set; } = 1;

    /// <summary>
    /// How long after an add_msg_template call in doubt reconciliation looks for the task WeCom may have created; past
    /// it, a call with no matching task is recorded as not created and its allowances are given back.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan ReconcileWindow { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Most tasks polled in one pass.</summary>
    [Range(1, 1000)]
    public int BatchSize { get; set; } = 100;
}

[OptionsValidator]
internal sealed partial class MassMessageOptionsValidator : IValidateOptions<MassMessageOptions>;
