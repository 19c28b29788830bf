using System.CommandLine;
using System.CommandLine.Invocation;
using Bot.Core.Campaigns.MassMessages;
using Bot.Core.Rules;
using Bot.Core.Storage;
using Microsoft.Extensions.Options;

namespace Bot.Host.Cli;

/// <summary>
/// The operator verbs of the same binary, on System.CommandLine: help on every verb and option, suggestions for a
/// mistyped verb, exit code 2 for a usage error. The web host starts only with no verb (host options such as `--urls`
/// alone) or with `serve`; anything else is a verb or a usage error, never a bot started by accident. Each verb reads
/// the service's configuration (appsettings.json, environment) where it needs any.
/// </summary>
public static class BotCommands
{
    /// <summary>The exit code of a command line that names no verb or option correctly.</summary>
    public const int UsageError = 2;

    private const string Serve = "serve";

    /// <summary>The verb's exit code; null when the web host should start (with <see cref="HostArguments"/>).</summary>
    public static Task<int?> TryRunAsync(string[] args) => TryRunAsync(args, Console.Out, Console.Error, TimeProvider.System);

    /// <summary>The arguments the web host is built with: `serve` itself is the verb, not a host option.</summary>
    public static string[] HostArguments(string[] args) => args is [Serve, .. var rest] ? rest : args;

    internal static async Task<int?> TryRunAsync(string[] args, TextWriter output, TextWriter error, TimeProvider time)
    {
        if (StartsHost(args))
        {
            return null;
        }
        var result = Root(time).Parse(args);
        var configuration = new InvocationConfiguration { Output = output, Error = error };
        var exit = await result.InvokeAsync(configuration);
        // System.CommandLine answers a parse error with 1; our verbs use 1 for "found a problem", so usage is 2.
        return result.Errors.Count > 0 ? UsageError : exit;
    }

    // No verb at all, host options only (`--urls URL`, `--environment X`), or `serve`: the service itself.
    private static bool StartsHost(string[] args) =>
        args is [] or [Serve, ..] || (args[0].StartsWith("--", StringComparison.Ordinal) && args[0] is not ("--help" or "--version"));

    private static RootCommand Root(TimeProvider time)
    {
        var root = new RootCommand("WeComBot: the service (no verb, or `serve`) and its operator verbs.")
        {
            new Command(Serve, "Run the service (the same as giving no verb); host options such as --urls URL follow."),
            RulesCommand(time),
            ExplainCommand(),
            PreflightCommand(time),
            LotteryCommand(),
            SampleCallbackCommand(),
            HealthCheckCommand(),
        };
        return root;
    }

    private static Command RulesCommand(TimeProvider time)
    {
        var checkPath = new Argument<string>("PATH") { Description = "The rule folder." };
        var check = new Command("check", "Validate rule files within the service's Rules:Max… limits; exit 1 with file:line:col: message per error, 2 on bad settings.") { checkPath };
        check.SetAction((parse, _) => Task.FromResult(RulesVerbs.CheckRules(parse.GetValue(checkPath)!, parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error)));

        var simulatePath = new Argument<string>("PATH") { Description = "The rule folder." };
        var eventFile = new Option<string>("--event")
        {
            Description = "A file holding one decrypted callback as WeCom sends it: the XML of an app/customer-contact event, or the JSON of an intelligent-robot message.",
            Required = true,
        };
        var at = new Option<DateTimeOffset?>("--at") { Description = "The moment the callback arrives (ISO 8601, e.g. 2026-12-03T10:00:00+08:00); now when omitted." };
        var simulate = new Command("simulate", "Print, as JSON, what the rules would do with a callback; touches nothing.") { simulatePath, eventFile, at };
        simulate.SetAction((parse, _) => Task.FromResult(RulesVerbs.Simulate(parse.GetValue(simulatePath)!, parse.GetValue(eventFile)!,
            parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error, AtTime(parse.GetValue(at), time))));

        var backtestPath = new Argument<string>("PATH") { Description = "The candidate rule folder." };
        var since = new Option<string>("--since") { Description = "How far back to replay stored callbacks, e.g. 24h, 90m, 7d.", Required = true };
        var backtest = new Command("backtest", "Replay stored callbacks through the rules at PATH and the live ones and print the difference in planned actions and their words, tags and attachments; exit 0 none, 1 some, 2 load error.") { backtestPath, since };
        backtest.SetAction((parse, _) => RulesVerbs.BacktestAsync(parse.GetValue(backtestPath)!, parse.GetValue(since)!,
            parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error, time));

        return new Command("rules", "Check, try and compare rule files.") { check, simulate, backtest };
    }

    private static Command ExplainCommand()
    {
        var customer = new Argument<string>("CUSTOMER") { Description = "The customer's external_userid." };
        var explain = new Command("explain", "What a customer was sent or tagged with, and which rule and callback caused it.") { customer };
        explain.SetAction((parse, _) => ExplainVerb.ExplainAsync(parse.GetValue(customer)!, parse.InvocationConfiguration.Output));
        return explain;
    }

    private static Command PreflightCommand(TimeProvider time)
    {
        var groups = new Option<string>("--groups") { Description = "Comma-separated chat ids: a broadcast to these groups, or the groups of a seeding run." };
        var customers = new Option<string>("--customers") { Description = "Comma-separated external_userids: a broadcast to these customers." };
        var sender = new Option<string>("--sender") { Description = "Customers only, optional: the member whose task carries them all (default: each customer's guide)." };
        var seeding = new Option<string>("--seeding") { Description = "A seeding script: its run started now (cron: at its next time)." };
        var lottery = new Option<string>("--lottery") { Description = "A lottery: its announcement in each group it has entries from, at the draw time." };
        var preflight = new Command("preflight",
            "Before a broadcast (--groups, or --customers [--sender]), a seeding run (--seeding [--groups]) or a lottery announcement (--lottery): per target allowed, delayed or skipped under the quotas, and the estimated finish. Reads the shared Redis counters when Redis is configured.")
        {
            groups, customers, sender, seeding, lottery,
        };
        preflight.Validators.Add(result =>
        {
            var given = new[] { seeding, lottery }.Count(o => result.GetResult(o) is not null)
                + (result.GetResult(seeding) is null && (result.GetResult(groups) is not null || result.GetResult(customers) is not null) ? 1 : 0);
            if (given != 1 || (result.GetResult(groups) is not null && result.GetResult(customers) is not null))
            {
                result.AddError("give one of: --groups or --customers (optionally with --sender), --seeding (optionally with --groups), --lottery");
            }
        });
        preflight.SetAction((parse, _) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            if (parse.GetValue(seeding) is { } script)
            {
                var chats = parse.GetValue(groups) is { } list ? Split(list) : null;
                return PreflightVerbs.PreflightCampaignAsync(p => p.CheckSeedingAsync(script, chats, CancellationToken.None), PreflightVerbs.PrintSeeding,
                    $"no seeding script named '{script}' in the rules", output, error, time);
            }
            if (parse.GetValue(lottery) is { } name)
            {
                return PreflightVerbs.PreflightCampaignAsync(p => p.CheckLotteryAsync(name, CancellationToken.None), PreflightVerbs.PrintLottery,
                    $"no lottery named '{name}'", output, error, time);
            }
            var toGroups = parse.GetValue(groups) is not null;
            return PreflightVerbs.PreflightAsync(toGroups ? BroadcastTargetKind.Groups : BroadcastTargetKind.Customers,
                (toGroups ? parse.GetValue(groups) : parse.GetValue(customers))!, parse.GetValue(sender), output, error);
        });
        return preflight;
    }

    private static Command LotteryCommand()
    {
        var name = new Argument<string>("NAME") { Description = "The lottery's name in the rules." };
        var verify = new Command("verify", "Recompute a drawn lottery's winners from its revealed seed and stored entries.") { name };
        verify.SetAction((parse, _) => LotteryVerbs.VerifyAsync(parse.GetValue(name)!, parse.InvocationConfiguration.Output));
        return new Command("lottery", "Lottery audit.") { verify };
    }

    private static Command SampleCallbackCommand()
    {
        var baseUrl = new Argument<string>("BASE_URL") { Description = "Where the service listens.", DefaultValueFactory = _ => "http://localhost:5000" };
        var sample = new Command("sample-callback", "Print a curl command posting a signed, encrypted \"contact added\" callback, made with the configured Token, EncodingAESKey and CorpId.") { baseUrl };
        sample.SetAction(parse => OpsVerbs.SampleCallback(parse.GetValue(baseUrl)!, parse.InvocationConfiguration.Output));
        return sample;
    }

    private static Command HealthCheckCommand()
    {
        var url = new Argument<string>("URL") { Description = "The URL to GET, e.g. http://127.0.0.1:8080/healthz." };
        var health = new Command("healthcheck", "Exit 0 when URL answers 2xx within 3 s (the container health check).") { url };
        health.SetAction((parse, _) => OpsVerbs.HealthCheckAsync(parse.GetValue(url)!, parse.InvocationConfiguration.Error));
        return health;
    }

    private static TimeProvider AtTime(DateTimeOffset? at, TimeProvider time) =>
        at is { } moment ? new FixedTimeProvider(moment) : time;

    private static string[] Split(string list) => list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>`rules simulate --at`: the planner reads "now" from a clock, so the moment is a clock that stands still.</summary>
    private sealed class FixedTimeProvider(DateTimeOffset at) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => at.ToUniversalTime();
    }

    /// <summary>The validated `Rules` options, or null after naming what is wrong with them.</summary>
    internal static RulesOptions? ReadRulesOptions(IHost host, TextWriter error)
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

    /// <summary>A host with the service's configuration (appsettings.json beside the binary, then the usual sources) for verbs that touch the database.</summary>
    internal static HostApplicationBuilder CommandHostBuilder()
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
}
