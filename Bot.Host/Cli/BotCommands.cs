using System.Text.Json;
using Bot.Core.Campaigns.Preflight;
using Bot.Core.Rules.Preview;
using Bot.Core.Outbox;
using Bot.Core.Campaigns.MassMessages;
using Bot.Core.Contacts;
using Bot.Core.Inbox;
using Bot.Core.RateLimiting;
using Bot.Core.Campaigns.Lottery;
using Bot.Core.Rules;
using Bot.Core.Campaigns.Seeding;
using Bot.Core.Storage;
using Bot.Core.WeCom;
using Bot.Core.WeCom.Callbacks;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Bot.Host.Cli;

/// <summary>
/// The operator verbs of the same binary. Each runs and exits without starting the web host, and reads the same
/// configuration (appsettings.json, environment) where it needs any.
/// </summary>
public static class BotCommands
{
    public const string Usage = """
        usage:
          Bot.Host [--urls URL]                          run the service
          Bot.Host rules check PATH                      validate rule files within the Rules:Max... limits; exit 1 with
                                                         file:line:col: message per error, 2 on bad settings
          Bot.Host rules simulate PATH --event FILE      print, as JSON, what the rules would do with a callback (touches nothing)
          Bot.Host rules backtest PATH --since 24h       replay stored callbacks through the rules at PATH and the live ones and
                                                         print the difference in planned actions and their words,
                                                         tags and attachments; exit 0 none, 1 some, 2 load error
          Bot.Host explain CUSTOMER                      what a customer was sent or tagged with, and which rule and callback caused it
          Bot.Host preflight --groups A,B --sender USER  before a broadcast to these groups (or --customers): per target allowed,
                                                         delayed or skipped under the quotas, and the estimated finish; reads
                                                         the shared Redis counters when Redis is configured
          Bot.Host preflight --seeding SCRIPT [--groups A,B]
                                                         a run of the seeding script started now (cron: at its next time) in
                                                         these groups (default: every live group it matches): per post sender,
                                                         planned time, allowed/delayed/skipped and why, posts already
                                                         scheduled there, and when the run would finish
          Bot.Host preflight --lottery NAME              the lottery's announcement in each group it has entries from, at the
                                                         draw time (now if due): channel, allowed/delayed/skipped, finish
          Bot.Host lottery verify NAME                   recompute a drawn lottery's winners from its revealed seed and entries
          Bot.Host sample-callback [BASE_URL]            print a curl command posting a signed, encrypted "contact added" callback
          Bot.Host healthcheck URL                       exit 0 when URL answers 2xx within 3 s (container health check)
        """;

    public static Task<int?> TryRunAsync(string[] args) => TryRunAsync(args, Console.Out, Console.Error, TimeProvider.System);

    internal static async Task<int?> TryRunAsync(string[] args, TextWriter output, TextWriter error, TimeProvider time)
    {
        switch (args)
        {
            case ["rules", "backtest", var path, "--since", var since]:
                return await BacktestAsync(path, since, output, error, time);
            case ["explain", var customer]:
                return await ExplainAsync(customer, output);
            case ["rules", "check", var path]:
                return CheckRules(path, output, error);
            case ["rules", "simulate", var path, "--event", var file]:
                return Simulate(path, file, Console.Out, Console.Error);
            case ["preflight", "--groups" or "--customers", var list, "--sender", var sender]:
                return await PreflightAsync(args[1] == "--groups" ? BroadcastTargetKind.Groups : BroadcastTargetKind.Customers, list, sender, output, error);
            case ["preflight", "--seeding", var script]:
                return await PreflightCampaignAsync(p => p.CheckSeedingAsync(script, null, CancellationToken.None), PrintSeeding, $"no seeding script named '{script}' in the rules", output, error, time);
            case ["preflight", "--seeding", var script, "--groups", var list]:
                var chats = list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                return await PreflightCampaignAsync(p => p.CheckSeedingAsync(script, chats, CancellationToken.None), PrintSeeding, $"no seeding script named '{script}' in the rules", output, error, time);
            case ["preflight", "--lottery", var lottery]:
                return await PreflightCampaignAsync(p => p.CheckLotteryAsync(lottery, CancellationToken.None), PrintLottery, $"no lottery named '{lottery}'", output, error, time);
            case ["lottery", "verify", var name]:
                return await VerifyLotteryAsync(name, output);
            case ["sample-callback", .. var rest]:
                return SampleCallback(rest.Length > 0 ? rest[0] : "http://localhost:5000", Console.Out);
            case ["healthcheck", var url]:
                return await HealthCheckAsync(url);
            case ["rules" or "lottery" or "explain" or "preflight" or "help" or "--help" or "-h", ..]:
                Console.Error.WriteLine(Usage);
                return args[0] is "help" or "--help" or "-h" ? 0 : 2;
            default:
                return null;
        }
    }

    /// <summary>Plans a callback through the rule files at PATH and prints the actions; names are stand-ins, nothing is called.</summary>
    public static int Simulate(string path, string eventFile, TextWriter output, TextWriter error)
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
                ? RobotCallbackParser.Parse(text, TimeProvider.System.GetUtcNow())
                : CallbackParser.Parse(text);
        }
        catch (CallbackFormatException ex)
        {
            error.WriteLine($"{eventFile}: {ex.Message}");
            return 1;
        }
        var plan = RulePreview.Plan(ruleSet, parsed.Event, TimeProvider.System.GetUtcNow());
        output.WriteLine(JsonSerializer.Serialize(new { kind = parsed.Kind, rulesVersion = ruleSet.Version, actions = plan },
            new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
        return 0;
    }

    /// <summary>`rules check` within the limits the service would load the folder with (`Rules:Max…` of its configuration).</summary>
    private static int CheckRules(string path, TextWriter output, TextWriter error)
    {
        var builder = CommandHostBuilder();
        builder.Services.AddRulesOptions();
        using var host = builder.Build();
        return ReadRulesOptions(host, error) is { } options ? RulesCommands.Check(path, output, options) : 2;
    }

    /// <summary>The validated `Rules` options, or null after naming what is wrong with them.</summary>
    private static RulesOptions? ReadRulesOptions(IHost host, TextWriter error)
    {
        try
        {
            return host.Services.GetRequiredService<IOptions<RulesOptions>>().Value;
        }
        catch (Exception ex) when (ex is OptionsValidationException or InvalidOperationException)
        {
            // Out of range (validation) or not a number at all (binding, which names the key too).
            error.WriteLine($"configuration: {ex.Message}");
            return null;
        }
    }

    private static async Task<int> BacktestAsync(string path, string sinceText, TextWriter output, TextWriter error, TimeProvider time)
    {
        if (!RuleBacktest.TryParseSince(sinceText, out var window))
        {
            error.WriteLine($"--since '{sinceText}': expected a duration like 24h, 90m or 7d");
            return 2;
        }
        var builder = CommandHostBuilder();
        builder.Services.AddSingleton(time);
        builder.AddInbox();
        builder.Services.AddRulesOptions();
        using var host = builder.Build();
        if (ReadRulesOptions(host, error) is not { } rulesOptions)
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

    private static async Task<int> ExplainAsync(string customer, TextWriter output)
    {
        var builder = CommandHostBuilder();
        builder.AddOutbox();
        builder.AddLottery();
        using var host = builder.Build();
        await host.Services.GetRequiredService<MigrationRunner>().ApplyAsync(CancellationToken.None);
        var items = await host.Services.GetRequiredService<OutboxStore>().ListByCustomerAsync(customer, 1000, CancellationToken.None);
        var entries = await host.Services.GetRequiredService<LotteryService>().EntriesOfAsync(customer, CancellationToken.None);
        if (items.Count == 0 && entries.Count == 0)
        {
            output.WriteLine($"{customer}: nothing sent, tagged, planned or entered");
            return 0;
        }
        // One timeline, newest first: outbox items (with the rule and callback behind each) and lottery entries.
        var lines = items.Select(item => (item.CreatedAt, Text: Describe(item)))
            .Concat(entries.Select(e => (CreatedAt: e.EnteredAt, Text: $"{"lottery_entry",-20} {"entered",-8} lottery {e.Lottery} via {e.Source}{(e.ChatId is null ? "" : $" in {e.ChatId}")}")))
            .OrderByDescending(l => l.CreatedAt);
        foreach (var (at, text) in lines)
        {
            output.WriteLine($"{at:u}  {text}");
        }
        return 0;

        static string Describe(OutboxItem item)
        {
            var p = item.Provenance;
            var why = p.RuleName is null
                ? "no rule"
                : $"rule {p.RuleName} ({p.RuleFile}:{p.RuleLine}, rules {p.RuleSetVersion})";
            var callback = p.CallbackId is null ? "" : $", callback {p.CallbackId}";
            var error = item.LastError is null ? "" : $": {item.LastError}";
            return $"{item.Kind,-20} {OutboxStore.ToText(item.State),-8} {why}{callback}{error}";
        }
    }

    /// <summary>A host with the service's configuration (appsettings.json beside the binary, then the usual sources) for verbs that touch the database.</summary>
    private static HostApplicationBuilder CommandHostBuilder()
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        // First, so appsettings.json in the working directory and the environment (ConnectionStrings__Bot) override it.
        var shipped = new Microsoft.Extensions.Configuration.Json.JsonConfigurationSource
        {
            Path = Path.Combine(AppContext.BaseDirectory, "appsettings.json"),
            Optional = true,
        };
        shipped.ResolveFileProvider();
        builder.Configuration.Sources.Insert(0, shipped);
        // Logs go to stderr: stdout is the verb's answer, which scripts read.
        builder.Logging.ClearProviders();
        builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.AddStorage();
        return builder;
    }

    private static async Task<int> PreflightAsync(BroadcastTargetKind kind, string list, string sender, TextWriter output, TextWriter error)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        var shipped = new Microsoft.Extensions.Configuration.Json.JsonConfigurationSource
        {
            Path = Path.Combine(AppContext.BaseDirectory, "appsettings.json"),
            Optional = true,
        };
        shipped.ResolveFileProvider();
        builder.Configuration.Sources.Insert(0, shipped);
        builder.Logging.ClearProviders();
        builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        WarnWithoutRedis(builder, error);
        builder.AddRateLimiting();
        // The contact budget is counted like the quotas, so the outlook shows it too.
        builder.AddContacts();
        builder.Services.AddSingleton<QuotaPreflight>();
        using var host = builder.Build();
        var targets = list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var report = await host.Services.GetRequiredService<QuotaPreflight>().CheckAsync(kind, sender, targets, CancellationToken.None);
        if (report is null)
        {
            error.WriteLine("preflight: the quota limiter (Redis) cannot be reached");
            return 1;
        }
        output.WriteLine($"receiving rule {report.ReceivingRule}, at {report.At:u}");
        output.WriteLine($"{"TARGET",-32} {"STATUS",-8} {"AT",-20} {"LEFT",-5} BLOCKED BY");
        foreach (var t in report.Targets)
        {
            output.WriteLine($"{t.Target,-32} {t.Status,-8} {t.At,-20:u} {t.ReceivingRuleRemaining?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "-",-5} {t.BlockedBy ?? "-"}");
        }
        output.WriteLine($"{report.Allowed} allowed, {report.Delayed} delayed, {report.Skipped} skipped; "
            + (report.EstimatedFinishAt is { } finish ? $"estimated finish {finish:u}" : "nothing would go out in this period"));
        return 0;
    }

    private static void WarnWithoutRedis(HostApplicationBuilder builder, TextWriter error)
    {
        if (builder.Configuration.GetSection(Bot.Core.Redis.RedisOptions.Section).Get<Bot.Core.Redis.RedisOptions>() is not { Enabled: true })
        {
            // Without Redis the counters live inside the running service; this process can only show its own, empty ones.
            error.WriteLine("preflight: Redis is not configured; counters start empty here, so only limits are checked");
        }
    }

    /// <summary>A seeding or lottery pre-flight: the live rule files, the database and the shared counters, with no worker started.</summary>
    private static async Task<int> PreflightCampaignAsync<T>(
        Func<CampaignPreflight, Task<(PreflightLookup Lookup, T? Report)>> check, Action<T, TextWriter> print, string unknown,
        TextWriter output, TextWriter error, TimeProvider time) where T : class
    {
        var builder = CommandHostBuilder();
        builder.Services.AddSingleton(time);
        WarnWithoutRedis(builder, error);
        builder.AddRateLimiting();
        builder.AddContacts();
        builder.AddRules();
        builder.AddSeeding();
        builder.AddLottery();
        builder.Services.TryAddSingleton<QuotaPreflight>();
        builder.Services.TryAddSingleton<CampaignPreflight>();
        using var host = builder.Build();
        await host.Services.GetRequiredService<MigrationRunner>().ApplyAsync(CancellationToken.None);
        // Only the rules are loaded; the workers that would send anything are never started.
        var rules = host.Services.GetRequiredService<RuleSetProvider>();
        await rules.StartAsync(CancellationToken.None);
        try
        {
            var (lookup, report) = await check(host.Services.GetRequiredService<CampaignPreflight>());
            if (lookup == PreflightLookup.UnknownName)
            {
                error.WriteLine($"preflight: {unknown}");
                return 1;
            }
            if (report is null)
            {
                error.WriteLine("preflight: the quota limiter (Redis) cannot be reached");
                return 1;
            }
            print(report, output);
            return 0;
        }
        finally
        {
            await rules.StopAsync(CancellationToken.None);
        }
    }

    private static void PrintSeeding(SeedingPreflightReport report, TextWriter output)
    {
        output.WriteLine($"seeding {report.Script} starting {report.Start:u}, receiving rule {report.ReceivingRule}, at {report.At:u}");
        output.WriteLine($"{"GROUP",-24} {"RUN",-9} {"STEP",4} {"SENDER",-16} {"PLANNED",-20} {"STATUS",-8} {"AT",-20} BLOCKED BY");
        foreach (var p in report.Posts)
        {
            output.WriteLine($"{p.ChatId,-24} {(p.Scheduled ? "scheduled" : "new"),-9} {p.Step,4} {p.Sender,-16} {p.PlannedAt,-20:u} {p.Status,-8} {p.At,-20:u} {p.BlockedBy ?? "-"}");
        }
        output.WriteLine($"new run: {report.Allowed} allowed, {report.Delayed} delayed, {report.Skipped} skipped; "
            + (report.EstimatedFinishAt is { } finish ? $"estimated finish {finish:u}" : "no post would go out as planned"));
    }

    private static void PrintLottery(LotteryPreflightReport report, TextWriter output)
    {
        output.WriteLine($"lottery {report.Lottery} ({report.State}) announces at {report.AnnounceAt:u}, receiving rule {report.ReceivingRule}, at {report.At:u}");
        output.WriteLine($"{"GROUP",-24} {"CHANNEL",-12} {"STATUS",-8} {"AT",-20} BLOCKED BY");
        foreach (var g in report.Groups)
        {
            output.WriteLine($"{g.ChatId,-24} {g.Channel,-12} {g.Status,-8} {g.At,-20:u} {g.BlockedBy ?? "-"}");
        }
        output.WriteLine($"{report.Allowed} allowed, {report.Delayed} delayed, {report.Skipped} skipped; "
            + (report.EstimatedFinishAt is { } finish ? $"estimated finish {finish:u}" : "no group has entries, or none would be reached in this period"));
    }

    private static async Task<int> VerifyLotteryAsync(string name, TextWriter output)
    {
        var builder = CommandHostBuilder();
        builder.AddLottery();
        using var host = builder.Build();
        await host.Services.GetRequiredService<MigrationRunner>().ApplyAsync(CancellationToken.None);
        return await host.Services.GetRequiredService<LotteryCommands>().VerifyAsync(name, output, CancellationToken.None);
    }

    private static int SampleCallback(string baseUrl, TextWriter output)
    {
        var configuration = new ConfigurationBuilder()
            .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true)
            .AddJsonFile("appsettings.json", optional: true)
            .AddEnvironmentVariables()
            .Build();
        var options = configuration.GetSection(WeComOptions.Section).Get<WeComOptions>() ?? new WeComOptions();
        var crypto = new CallbackCrypto(options.Token, options.EncodingAesKey, options.CorpId);
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        var nonce = Random.Shared.Next(100_000, 999_999).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var plaintext = $"<xml><ToUserName><![CDATA[{options.CorpId}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>{now}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[add_external_contact]]></ChangeType><UserID><![CDATA[guide01]]></UserID><ExternalUserID><![CDATA[wmSAMPLE{nonce}]]></ExternalUserID><State><![CDATA[store-sh-001]]></State><WelcomeCode><![CDATA[SAMPLECODE{nonce}]]></WelcomeCode></xml>";
        var encrypt = crypto.Encrypt(plaintext);
        var signature = crypto.Sign(now, nonce, encrypt);
        var body = $"<xml><ToUserName><![CDATA[{options.CorpId}]]></ToUserName><AgentID><![CDATA[{options.AgentId}]]></AgentID><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>";
        output.WriteLine($"curl -i -X POST '{baseUrl.TrimEnd('/')}/wecom/callback?msg_signature={signature}&timestamp={now}&nonce={nonce}' --data-binary '{body}'");
        return 0;
    }

    private static async Task<int> HealthCheckAsync(string url)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(3) };
        try
        {
            using var response = await http.GetAsync(url);
            return response.IsSuccessStatusCode ? 0 : 1;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            Console.Error.WriteLine($"healthcheck: {url}: {ex.Message}");
            return 1;
        }
    }
}
