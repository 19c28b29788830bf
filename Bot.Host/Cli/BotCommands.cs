using Bot.Core.Campaigns.MassMessages;
using Bot.Core.Rules;
using Bot.Core.Storage;
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
                return await RulesVerbs.BacktestAsync(path, since, output, error, time);
            case ["explain", var customer]:
                return await ExplainVerb.ExplainAsync(customer, output);
            case ["rules", "check", var path]:
                return RulesVerbs.CheckRules(path, output, error);
            case ["rules", "simulate", var path, "--event", var file]:
                return RulesVerbs.Simulate(path, file, output, error, time);
            case ["preflight", "--groups" or "--customers", var list, "--sender", var sender]:
                return await PreflightVerbs.PreflightAsync(args[1] == "--groups" ? BroadcastTargetKind.Groups : BroadcastTargetKind.Customers, list, sender, output, error);
            case ["preflight", "--seeding", var script]:
                return await PreflightVerbs.PreflightCampaignAsync(p => p.CheckSeedingAsync(script, null, CancellationToken.None), PreflightVerbs.PrintSeeding, $"no seeding script named '{script}' in the rules", output, error, time);
            case ["preflight", "--seeding", var script, "--groups", var list]:
                var chats = list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                return await PreflightVerbs.PreflightCampaignAsync(p => p.CheckSeedingAsync(script, chats, CancellationToken.None), PreflightVerbs.PrintSeeding, $"no seeding script named '{script}' in the rules", output, error, time);
            case ["preflight", "--lottery", var lottery]:
                return await PreflightVerbs.PreflightCampaignAsync(p => p.CheckLotteryAsync(lottery, CancellationToken.None), PreflightVerbs.PrintLottery, $"no lottery named '{lottery}'", output, error, time);
            case ["lottery", "verify", var name]:
                return await LotteryVerbs.VerifyAsync(name, output);
            case ["sample-callback", .. var rest]:
                return OpsVerbs.SampleCallback(rest.Length > 0 ? rest[0] : "http://localhost:5000", output);
            case ["healthcheck", var url]:
                return await OpsVerbs.HealthCheckAsync(url, error);
            case ["rules" or "lottery" or "explain" or "preflight" or "help" or "--help" or "-h", ..]:
                error.WriteLine(Usage);
                return args[0] is "help" or "--help" or "-h" ? 0 : 2;
            default:
                return null;
        }
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
