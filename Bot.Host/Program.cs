using Bot.Core.Handling;
using Bot.Core.Outbox;
using Bot.Core.WeCom.Api;
using Bot.Core.Inbox;
using Bot.Core.Campaigns;
using Bot.Core.RateLimiting;
using Bot.Core.Redis;
using Bot.Core.Rules;
using Bot.Core.Storage;
using Bot.Core.WeCom.Callbacks;
using Bot.Host.Admin;
using Bot.Host.Cli;
using Bot.Host.Health;
using Bot.Host.Observability;
using Bot.Host.WeCom;

// Operator verbs (rules, explain, preflight, lottery verify, healthcheck, sample-callback; `--help` lists them) run
// without the web host, which starts only with no verb or `serve`.
if (await BotCommands.TryRunAsync(args) is { } exitCode)
{
    return exitCode;
}

var builder = WebApplication.CreateBuilder(BotCommands.HostArguments(args));

builder.AddStorage();            // SQLite or SQL Server, migrations at start-up
builder.AddRedis();              // shared state when several instances run
builder.AddWeComCallbacks();     // callback crypto and parsing
builder.AddWeComApi();           // typed API client, token cache, resilience
builder.AddRules();              // rule files, hot reload
builder.AddInbox();              // durable inbox and its worker
builder.AddRateLimiting();       // WeCom quotas (Redis or in-process)
builder.AddOutbox();             // durable outbox and dispatcher
builder.AddCampaigns();          // lotteries, seeding, mass messages and broadcasts, their pre-flight and rule sync
builder.AddHandling();           // callbacks → rules → outbox → WeCom
builder.AddObservability();      // /metrics, traces
builder.AddHealth();             // /healthz, /readyz
builder.AddAdmin();              // /admin, API key

var app = builder.Build();

app.MapWeComCallback();
app.MapHealth();
app.MapObservability();
app.MapAdmin();

await app.RunAsync();
return 0;

public partial class Program;
