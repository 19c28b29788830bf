using Bot.Core.Campaigns.Preflight;
using Bot.Core.Campaigns.MassMessages;
using Bot.Core.Contacts;
using Bot.Core.Groups;
using Bot.Core.RateLimiting;
using Bot.Core.Campaigns.Lottery;
using Bot.Core.Rules;
using Bot.Core.Campaigns.Seeding;
using Bot.Core.Storage;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Bot.Host.Cli;

/// <summary>preflight: what a broadcast, a seeding run or a lottery announcement would meet under the quotas, before it is started.</summary>
internal static class PreflightVerbs
{
    internal static async Task<int> PreflightAsync(BroadcastTargetKind kind, string list, string? sender, TextWriter output, TextWriter error)
    {
        var builder = BotCommands.CommandHostBuilder();
        WarnWithoutRedis(builder, error);
        builder.AddRateLimiting();
        // The contact budget is counted like the quotas, so the outlook shows it too.
        builder.AddContacts();
        // The tasks are planned from the service's own database: who follows each customer, who owns each group.
        builder.AddStorage();
        builder.Services.AddSingleton<CustomerLedger>();
        builder.Services.AddSingleton<CustomerGroupStore>();
        builder.Services.AddSingleton(sp => new BroadcastPlanner(sp.GetRequiredService<CustomerLedger>(), sp.GetRequiredService<CustomerGroupStore>()));
        builder.Services.AddSingleton<QuotaPreflight>();
        using var host = builder.Build();
        // The service applies these at start; a pre-flight run before its first start finds the same tables.
        await host.Services.GetRequiredService<MigrationRunner>().ApplyAsync(CancellationToken.None);
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
        foreach (var task in report.Tasks ?? [])
        {
            output.WriteLine($"task: {task.Sender} carries {task.Recipients}");
        }
        foreach (var u in report.Unassigned ?? [])
        {
            output.WriteLine($"unassigned: {u.Recipient}: {u.Reason}");
        }
        output.WriteLine($"{report.Tasks?.Count ?? 0} mass-message tasks, one per member");
        output.WriteLine($"{report.Allowed} allowed, {report.Delayed} delayed, {report.Skipped} skipped; "
            + (report.EstimatedFinishAt is { } finish ? $"estimated finish {finish:u}" : "nothing would go out in this period"));
        return 0;
    }

    internal static void WarnWithoutRedis(HostApplicationBuilder builder, TextWriter error)
    {
        if (builder.Configuration.GetSection(Bot.Core.Redis.RedisOptions.Section).Get<Bot.Core.Redis.RedisOptions>() is not { Enabled: true })
        {
            // Without Redis the counters live inside the running service; this process can only show its own, empty ones.
            error.WriteLine("preflight: Redis is not configured; counters start empty here, so only limits are checked");
        }
    }

    /// <summary>A seeding or lottery pre-flight: the live rule files, the database and the shared counters, with no worker started.</summary>
    internal static async Task<int> PreflightCampaignAsync<T>(
        Func<CampaignPreflight, Task<(PreflightLookup Lookup, T? Report)>> check, Action<T, TextWriter> print, string unknown,
        TextWriter output, TextWriter error, TimeProvider time) where T : class
    {
        var builder = BotCommands.CommandHostBuilder();
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

    internal static void PrintSeeding(SeedingPreflightReport report, TextWriter output)
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

    internal static void PrintLottery(LotteryPreflightReport report, TextWriter output)
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
}
