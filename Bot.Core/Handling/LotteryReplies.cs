using Bot.Core.Campaigns.Lottery;

namespace Bot.Core.Handling;

/// <summary>The short confirmations a lottery entrant gets.</summary>
internal static class LotteryReplies
{
    public static string For(LotteryEntryOutcome outcome, string lottery) => outcome switch
    {
        LotteryEntryOutcome.Entered => $"已参加「{lottery}」抽奖，开奖时在群里公布，祝好运！",
        LotteryEntryOutcome.AlreadyEntered => $"您已参加过「{lottery}」抽奖啦，每人一次，请等待开奖。",
        LotteryEntryOutcome.NotEligible => $"抱歉，「{lottery}」抽奖仅限指定客户参加。",
        LotteryEntryOutcome.NotOpenYet => $"「{lottery}」抽奖还未开始，敬请期待。",
        LotteryEntryOutcome.Closed => $"「{lottery}」抽奖已截止。",
        _ => "没有找到这个抽奖。",
    };
}
