using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Bot.Core.Campaigns.Lottery;

/// <summary>The `Lottery` section.</summary>
public sealed class LotteryOptions
{
    public const string Section = "Lottery";

    /// <summary>A draw this long after its `draws` time counts as late (the host was down or stalled).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan LateAfter { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>The worker looks at the store at least this often, to see lotteries other instances stored.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>How long one instance owns announcing a draw before another may deliver it again.</summary>
    [Range(typeof(TimeSpan), "00:00:10", "1.00:00:00")]
    public TimeSpan AnnounceLease { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Appended to the announcement of a late draw; `{{draws}}` and `{{drawn}}` are local times.</summary>
    [Required]
    public string LateNotice { get; set; } = "（原定 {{draws}} 开奖，因服务中断于 {{drawn}} 补开）";
}

[OptionsValidator]
internal sealed partial class LotteryOptionsValidator : IValidateOptions<LotteryOptions>;
