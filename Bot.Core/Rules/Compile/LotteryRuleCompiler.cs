using YamlDotNet.RepresentationModel;

namespace Bot.Core.Rules;

/// <summary>
/// Compiles the <c>lotteries</c> section. This is the one complete check of a lottery (name, keyword, times,
/// groups, eligibility, prizes, announcement, channel): the lottery room stores what it is given as it is.
/// </summary>
internal sealed class LotteryRuleCompiler(RuleReport report, RuleValues values, ChannelAdvice channels)
{
    public LotteryRule? Lottery(Fields f, RuleSource? source)
    {
        var named = source is not { Name.Length: 0 };
        if (!named)
        {
            // The shape check lets a quoted "" or "  " through as a name; other sections accept it as they always have.
            report.Error(f.Node("name")!, "empty name: a lottery is stored, drawn and announced under its name");
        }
        var groups = values.GroupPatterns(f.Sequence("groups", required: true));
        var keyword = values.Keyword(f.Scalar("keyword", required: true));
        var opens = values.Instant(f.Scalar("opens", required: true));
        var drawsNode = f.Scalar("draws", required: true);
        var draws = values.Instant(drawsNode);
        var ok = opens is not null && draws is not null;
        if (ok && opens >= draws)
        {
            report.Error(drawsNode!, $"draws ({drawsNode!.Value}) must be after opens");
            ok = false;
        }
        var eligible = f.Mapping("eligible") is { } e ? values.Tags(e.Sequence("tags_any")) : [];
        var prizes = Prizes(f.Sequences("prizes", required: true), f.Node("prizes"));
        var announceNode = f.Scalar("announce", required: true);
        var announce = values.Text(announceNode, RuleFields.Lotteries);
        var tagWinners = values.Tags(f.Sequence("tag_winners"));
        var channel = channels.Read(f, GroupChannel.Robot, allowTemplate: false);
        var fits = channel is null || values.Fits(announceNode, announce, WeComTextLimits.ForGroupPost(channel.Channel), "announce");
        if (source is null || !named || groups is null || keyword is null || !ok || eligible is null || prizes is null
            || announce is null || tagWinners is null || channel is null || !fits)
        {
            return null;
        }
        channels.Lottery(channel);
        return new LotteryRule(source, groups, keyword, opens!.Value, draws!.Value, eligible, prizes, announce, tagWinners,
            channel.Channel, channel.RobotKey, channel.Sender);
    }

    private List<Prize>? Prizes(IReadOnlyList<Fields>? maps, YamlNode? node)
    {
        if (maps is null)
        {
            return null;
        }
        if (maps.Count == 0)
        {
            return report.Refuse<List<Prize>>(node!, "empty prize list: a lottery needs at least one prize");
        }
        var prizes = new List<Prize>();
        var ok = true;
        foreach (var p in maps)
        {
            var nameNode = p.Scalar("name", required: true);
            var countNode = p.Scalar("count", required: true);
            if (countNode is not null && (!int.TryParse(countNode.Value, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var count) || count < 1))
            {
                report.Error(countNode, $"prize count must be a whole number of at least 1, got \"{countNode.Value}\"");
                ok = false;
                continue;
            }
            // Not trimmed: the name is part of what may not change once the lottery opens.
            var name = values.NotBlank(nameNode, "empty prize name: a winner is told the prize by its name");
            if (name is null || countNode is null)
            {
                ok = false;
                continue;
            }
            prizes.Add(new Prize(name, int.Parse(countNode.Value!, System.Globalization.CultureInfo.InvariantCulture)));
        }
        return ok ? prizes : null;
    }
}
