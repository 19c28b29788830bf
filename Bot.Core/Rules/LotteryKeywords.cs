namespace Bot.Core.Rules;

/// <summary>
/// Which lotteries a message enters: it was sent in a group whose name matches one of the lottery's globs, from the
/// opening until the draw time, and its text contains the keyword (found as every rule keyword is, by the
/// <see cref="KeywordAutomaton"/>). The rule preview asks this about a candidate rule set; the lottery room asks it
/// about its stored definitions, because an opened lottery keeps its keyword when a reload edits it.
/// </summary>
internal sealed class LotteryKeywords
{
    /// <summary>What decides entry by keyword; <see cref="Groups"/> are compiled with <see cref="Glob.TryCompile"/>.</summary>
    internal sealed record Terms(string Keyword, IReadOnlyList<Glob> Groups, DateTimeOffset Opens, DateTimeOffset Draws);

    private readonly IReadOnlyList<Terms> _lotteries;
    private readonly KeywordAutomaton _keywords;

    public LotteryKeywords(IReadOnlyList<Terms> lotteries)
    {
        _lotteries = lotteries;
        _keywords = new KeywordAutomaton(lotteries.Select((l, i) => (l.Keyword, i)), lotteries.Count);
    }

    public static LotteryKeywords Of(IReadOnlyList<LotteryRule> rules) =>
        new([.. rules.Select(r => new Terms(r.Keyword, r.Groups, r.Opens, r.Draws))]);

    /// <summary>Positions, in the list this was built from, of the lotteries the message enters, ascending.</summary>
    public IReadOnlyList<int> Match(string text, bool isGroup, string? groupName, DateTimeOffset at)
    {
        if (!isGroup || _lotteries.Count == 0)
        {
            return [];
        }
        return [.. _keywords.Match(text).Where(i =>
        {
            var lottery = _lotteries[i];
            return lottery.Groups.Any(g => g.IsMatch(groupName)) && at >= lottery.Opens && at < lottery.Draws;
        })];
    }
}
