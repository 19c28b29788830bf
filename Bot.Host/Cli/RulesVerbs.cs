using System.Text.Json;
using Bot.Core.Rules.Preview;
using Bot.Core.Inbox;
using Bot.Core.Rules;
using Bot.Core.Storage;
using Bot.Core.WeCom.Callbacks;

namespace Bot.Host.Cli;

/// <summary>rules check, rules simulate, rules backtest: the rule files judged, tried and compared without touching WeCom.</summary>
internal static class RulesVerbs
{
    /// <summary>Plans a callback through the rule files at PATH and prints the actions; names are stand-ins, nothing is called.</summary>
    public static int Simulate(string path, string eventFile, TextWriter output, TextWriter error, TimeProvider time)
    {
        var loaded = RuleLoader.Load(path);
        if (loaded.RuleSet is not { } ruleSet)
        {
            foreach (var e in loaded.Errors)
            {
                error.WriteLine(e);
            }
            return 1;
        }
        var text = File.ReadAllText(eventFile).Trim();
        ParsedCallback parsed;
        try
        {
            parsed = text.StartsWith('{')
                ? RobotCallbackParser.Parse(text, time.GetUtcNow())
                : CallbackParser.Parse(text);
        }
        catch (CallbackFormatException ex)
        {
            error.WriteLine($"{eventFile}: {ex.Message}");
            return 1;
        }
        var plan = RulePreview.Plan(ruleSet, parsed.Event, time.GetUtcNow());
        output.WriteLine(JsonSerializer.Serialize(new { kind = parsed.Kind, rulesVersion = ruleSet.Version, actions = plan },
            new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
        return 0;
    }

    /// <summary>`rules check` within the limits the service would load the folder with (`Rules:Max…` of its configuration).</summary>
    internal static int CheckRules(string path, TextWriter output, TextWriter error)
    {
        var builder = BotCommands.CommandHostBuilder();
        builder.Services.AddRulesOptions();
        using var host = builder.Build();
        return BotCommands.ReadRulesOptions(host, error) is { } options ? RulesCommands.Check(path, output, options) : 2;
    }

    internal static async Task<int> BacktestAsync(string path, string sinceText, TextWriter output, TextWriter error, TimeProvider time)
    {
        if (!RuleBacktest.TryParseSince(sinceText, out var window))
        {
            error.WriteLine($"--since '{sinceText}': expected a duration like 24h, 90m or 7d");
            return 2;
        }
        var builder = BotCommands.CommandHostBuilder();
        builder.Services.AddSingleton(time);
        builder.AddInbox();
        builder.Services.AddRulesOptions();
        using var host = builder.Build();
        if (BotCommands.ReadRulesOptions(host, error) is not { } rulesOptions)
        {
            return 2;
        }
        var livePath = Path.IsPathRooted(rulesOptions.Path) ? rulesOptions.Path : Path.Combine(builder.Environment.ContentRootPath, rulesOptions.Path);
        var live = RuleLoader.Load(livePath, time, rulesOptions);
        var candidate = RuleLoader.Load(path, time, rulesOptions);
        var failed = false;
        foreach (var (name, loaded) in new[] { ("live rules " + livePath, live), ("candidate rules " + path, candidate) })
        {
            foreach (var e in loaded.Errors)
            {
                error.WriteLine($"{name}: {e}");
                failed = true;
            }
        }
        if (failed || live.RuleSet is null || candidate.RuleSet is null)
        {
            return 2;
        }
        await host.Services.GetRequiredService<MigrationRunner>().ApplyAsync(CancellationToken.None);
        var since = time.GetUtcNow() - window;
        var recorded = host.Services.GetRequiredService<InboxStore>().ListSinceAsync(since, CancellationToken.None)
            .Select(c => new RecordedCallback(c.Kind, c.Body, c.ReceivedAt));
        var result = await RuleBacktest.CompareAsync(live.RuleSet, candidate.RuleSet, recorded, rulesOptions.TimeZone, CancellationToken.None);
        output.WriteLine($"{result.Callbacks} callbacks since {since:u}; live rules {live.RuleSet.Version}, candidate {candidate.RuleSet.Version}"
            + (result.Unparseable > 0 ? $"; {result.Unparseable} unparseable, skipped" : ""));
        foreach (var change in result.Changes)
        {
            output.WriteLine(change);
        }
        if (result.Changes.Count == 0)
        {
            output.WriteLine("no change in planned actions");
        }
        return result.Changes.Count == 0 ? 0 : 1;
    }
}
