using Bot.Core.Rules;

namespace Bot.Tests.Rules;

public sealed class KeywordAutomatonTests
{
    [Test]
    public void Finds_overlapping_and_nested_keywords_in_one_pass()
    {
        var automaton = new KeywordAutomaton([("he", 0), ("she", 1), ("his", 2), ("hers", 3)], 4);

        Assert.That(automaton.Match("ushers"), Is.EqualTo(new[] { 0, 1, 3 }));
        Assert.That(automaton.Match("this"), Is.EqualTo(new[] { 2 }));
    }

    [Test]
    public void Chinese_keywords_match_inside_longer_text_and_suffixes_are_found_through_failure_links()
    {
        var automaton = new KeywordAutomaton([("拿铁", 0), ("桂花拿铁", 1), ("花拿", 2), ("美式", 3)], 4);

        Assert.That(automaton.Match("有人试过新出的桂花拿铁吗？"), Is.EqualTo(new[] { 0, 1, 2 }));
        Assert.That(automaton.Match("桂花茶"), Is.Empty);
    }

    [Test]
    public void Ascii_is_case_insensitive_and_each_target_is_reported_once()
    {
        var automaton = new KeywordAutomaton([("Latte", 5), ("mocha", 5), ("VIP", 0)], 6);

        Assert.That(automaton.Match("LATTE and latte and Mocha, vip"), Is.EqualTo(new[] { 0, 5 }));
    }

    [Test]
    public void Agrees_with_a_naive_search_on_random_text()
    {
        var random = new Random(42);
        const string alphabet = "咖啡拿铁美式抽奖abAB";
        string Word(int length) => new([.. Enumerable.Range(0, length).Select(_ => alphabet[random.Next(alphabet.Length)])]);
        var keywords = Enumerable.Range(0, 300).Select(i => (Word(random.Next(1, 5)), i)).ToList();
        var automaton = new KeywordAutomaton(keywords, keywords.Count);

        for (var n = 0; n < 200; n++)
        {
            var text = Word(random.Next(0, 60));
            var expected = keywords.Where(k => text.Contains(k.Item1, StringComparison.OrdinalIgnoreCase)).Select(k => k.Item2).Order();
            Assert.That(automaton.Match(text), Is.EqualTo(expected), text);
        }
    }

    [Test]
    public void Globs_match_the_whole_string_ordinally()
    {
        Glob G(string p) => Glob.TryCompile(p, out _)!;

        Assert.That(G("VIP*").IsMatch("VIP 一群"), Is.True);
        Assert.That(G("VIP*").IsMatch("vip 一群"), Is.False);
        Assert.That(G("*群").IsMatch("VIP 一群"), Is.True);
        Assert.That(G("store-??-*").IsMatch("store-sh-001"), Is.True);
        Assert.That(G("store-??-*").IsMatch("store-shx-001"), Is.False);
        Assert.That(G("a*b*c").IsMatch("axxbyyc"), Is.True);
        Assert.That(G("a*b*c").IsMatch("axxbyycd"), Is.False);
        Assert.That(G("exact").IsMatch("exact!"), Is.False);
        Assert.That(G("*").IsMatch(null), Is.True);
        Assert.That(G("?").IsMatch("🎉"), Is.True);
    }
}
