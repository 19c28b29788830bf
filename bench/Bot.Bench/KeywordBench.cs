using System.Diagnostics;
using System.Text;
using Bot.Core.Rules;
using Microsoft.Extensions.Options;
using RulesEngine.Models;

namespace Bot.Bench;

/// <summary>
/// Messages per second through keyword matching (the planner's one automaton pass) with 100, 1,000 and 10,000
/// keyword rules on 200-character Chinese messages, against Microsoft RulesEngine evaluating the same rules as
/// <c>text.Contains(..) || ..</c> lambdas. Suite name: <c>keywords</c>.
/// </summary>
public static class KeywordBench
{
    private const int MessageLength = 200;
    private const int KeywordsPerRule = 3;
    private static readonly TimeSpan MeasureFor = TimeSpan.FromSeconds(2);

    // RulesEngine evaluates every rule for every message; at 10,000 rules a single message takes long enough
    // that measuring for the full window would dominate the run. Its measurement stops after this much time.
    private static readonly TimeSpan BaselineBudget = TimeSpan.FromSeconds(10);

    public static async Task RunAsync(TextWriter output, CancellationToken cancellationToken = default)
    {
        output.WriteLine($"keyword matching, {MessageLength}-char Chinese messages, {KeywordsPerRule} keywords per rule");
        output.WriteLine("rules | ours msg/s | RulesEngine msg/s | ratio | ours build | RE first call | matches/msg");
        double? oursAt1k = null, oursAt10k = null;
        foreach (var ruleCount in new[] { 100, 1_000, 10_000 })
        {
            cancellationToken.ThrowIfCancellationRequested();
            var random = new Random(ruleCount);
            var alphabet = CommonChars(random);
            var keywords = Enumerable.Range(0, ruleCount)
                .Select(_ => Enumerable.Range(0, KeywordsPerRule).Select(_ => Word(random, alphabet, random.Next(2, 5))).ToArray())
                .ToArray();
            var messages = Enumerable.Range(0, 512).Select(_ => Message(random, alphabet, keywords)).ToArray();

            var (ours, buildTime, matches) = MeasureOurs(keywords, messages);
            var (baseline, firstCall, baselineMatched, seen) = await MeasureRulesEngineAsync(keywords, messages);
            // Same rules, same messages: both engines must find the same matches on the messages RulesEngine got through.
            if (matches.Take(seen).Sum() != baselineMatched)
            {
                throw new InvalidOperationException($"engines disagree at {ruleCount} rules: {matches.Take(seen).Sum()} vs {baselineMatched} matches");
            }
            output.WriteLine($"{ruleCount,5} | {ours,10:N0} | {baseline,17:N1} | {ours / baseline,5:N0}× | {buildTime.TotalMilliseconds,7:N0} ms | {firstCall.TotalSeconds,10:N1} s | {matches.Average():N2} (RE saw {seen} msgs)");
            if (ruleCount == 1_000)
            {
                oursAt1k = ours;
            }
            if (ruleCount == 10_000)
            {
                oursAt10k = ours;
            }
        }
        output.WriteLine($"10× more rules (1,000 → 10,000) costs {oursAt1k / oursAt10k:N2}× the time per message (goal < 2×)");
        output.WriteLine($"RulesEngine measurement is capped at {BaselineBudget.TotalSeconds:N0} s per size (at least one message).");
    }

    private static (double PerSecond, TimeSpan Build, int[] Matches) MeasureOurs(string[][] keywords, string[] messages)
    {
        var folder = Path.Combine(Path.GetTempPath(), "wecombot-bench-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        try
        {
            var yaml = new StringBuilder("tagging:\n");
            for (var i = 0; i < keywords.Length; i++)
            {
                yaml.Append($"  - name: r{i}\n    when: {{ keywords: [{string.Join(", ", keywords[i])}] }}\n    tags: [\"bench/t{i}\"]\n");
            }
            File.WriteAllText(Path.Combine(folder, "bench.yaml"), yaml.ToString());
            var started = Stopwatch.GetTimestamp();
            var rules = RuleLoader.Load(folder).RuleSet ?? throw new InvalidOperationException("bench rules did not load");
            var build = Stopwatch.GetElapsedTime(started);
            var planner = new RulePlanner(Options.Create(new RulesOptions()));
            var at = DateTimeOffset.UnixEpoch;
            var matches = messages.Select(m => planner.PlanMessage(rules, new MessageInput("wmC", "wmC", null, null, m, false, at)).Count).ToArray();
            var count = 0L;
            started = Stopwatch.GetTimestamp();
            while (Stopwatch.GetElapsedTime(started) < MeasureFor)
            {
                for (var i = 0; i < messages.Length; i++)
                {
                    planner.PlanMessage(rules, new MessageInput("wmC", "wmC", null, null, messages[i], false, at));
                }
                count += messages.Length;
            }
            return (count / Stopwatch.GetElapsedTime(started).TotalSeconds, build, matches);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static async Task<(double PerSecond, TimeSpan FirstCall, long Matched, int Messages)> MeasureRulesEngineAsync(string[][] keywords, string[] messages)
    {
        var workflow = new Workflow
        {
            WorkflowName = "keywords",
            Rules = keywords.Select((words, i) => new Rule
            {
                RuleName = "r" + i,
                RuleExpressionType = RuleExpressionType.LambdaExpression,
                Expression = string.Join(" || ", words.Select(w => $"text.Contains(\"{w}\")")),
            }).ToList(),
        };
        var engine = new RulesEngine.RulesEngine([workflow], new ReSettings());

        // The first call compiles every rule; report it separately from the steady state.
        var started = Stopwatch.GetTimestamp();
        await engine.ExecuteAllRulesAsync("keywords", new RuleParameter("text", messages[0]));
        var firstCall = Stopwatch.GetElapsedTime(started);

        long matched = 0;
        var count = 0;
        started = Stopwatch.GetTimestamp();
        while (count < messages.Length && (count == 0 || Stopwatch.GetElapsedTime(started) < BaselineBudget))
        {
            var results = await engine.ExecuteAllRulesAsync("keywords", new RuleParameter("text", messages[count]));
            matched += results.Count(r => r.IsSuccess);
            count++;
        }
        var elapsed = Stopwatch.GetElapsedTime(started);

        return (count / elapsed.TotalSeconds, firstCall, matched, count);
    }

    // About 3,000 distinct CJK characters, the size of everyday written vocabulary.
    private static char[] CommonChars(Random random) =>
        [.. Enumerable.Range(0x4E00, 0x9FA5 - 0x4E00).OrderBy(_ => random.Next()).Take(3000).Select(c => (char)c)];

    private static string Word(Random random, char[] alphabet, int length) =>
        new([.. Enumerable.Range(0, length).Select(_ => alphabet[random.Next(alphabet.Length)])]);

    // Random text with two rules' keywords planted, so every message matches something, like real traffic would.
    private static string Message(Random random, char[] alphabet, string[][] keywords)
    {
        var text = new StringBuilder(Word(random, alphabet, MessageLength));
        for (var k = 0; k < 2; k++)
        {
            var word = keywords[random.Next(keywords.Length)][random.Next(KeywordsPerRule)];
            text.Remove(0, word.Length).Insert(random.Next(text.Length - word.Length), word);
        }
        return text.ToString(0, MessageLength);
    }
}
