using System.Text.Json;
using Bot.Core.Automation;
using Bot.Core.Lottery;
using Bot.Core.Rules;
using Bot.Core.Storage;
using Bot.Core.WeCom;
using Bot.Core.WeCom.Callbacks;
using Microsoft.Extensions.Options;

namespace Bot.Web.Cli;

/// <summary>
/// The operator verbs of the same binary. Each runs and exits without starting the web host, and reads the same
/// configuration (appsettings.json, environment) where it needs any.
/// </summary>
public static class BotCommands
{
    public const string Usage = """
        usage:
          Bot.Host [--urls URL]                          run the service
          Bot.Host rules check PATH                      validate rule files; exit 1 with file:line:col: message per error
          Bot.Host rules simulate PATH --event FILE      print, as JSON, what the rules would do with a callback (touches nothing)
          Bot.Host lottery verify NAME                   recompute a drawn lottery's winners from its revealed seed and entries
          Bot.Host sample-callback [BASE_URL]            print a curl command posting a signed, encrypted "contact added" callback
          Bot.Host healthcheck URL                       exit 0 when URL answers 2xx within 3 s (container health check)
        """;

    public static async Task<int?> TryRunAsync(string[] args)
    {
        switch (args)
        {
            case ["rules", "check", var path]:
                return RulesCommands.Check(path, Console.Out);
            case ["rules", "simulate", var path, "--event", var file]:
                return Simulate(path, file, Console.Out, Console.Error);
            case ["lottery", "verify", var name]:
                return await VerifyLotteryAsync(name);
            case ["sample-callback", .. var rest]:
                return SampleCallback(rest.Length > 0 ? rest[0] : "http://localhost:5000", Console.Out);
            case ["healthcheck", var url]:
                return await HealthCheckAsync(url);
            case ["rules" or "lottery" or "help" or "--help" or "-h", ..]:
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

    private static async Task<int> VerifyLotteryAsync(string name)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true);
        builder.AddStorage();
        builder.AddLottery();
        using var host = builder.Build();
        await host.Services.GetRequiredService<MigrationRunner>().ApplyAsync(CancellationToken.None);
        return await host.Services.GetRequiredService<LotteryCommands>().VerifyAsync(name, Console.Out, CancellationToken.None);
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
