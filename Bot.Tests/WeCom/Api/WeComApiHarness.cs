using Bot.Core.WeCom.Api;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using WireMock.Logging;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace Bot.Tests.WeCom.Api;

/// <summary>
/// One bot instance (its own DI container) talking to a WireMock "WeCom" over real HTTP, with every log record
/// captured at Trace level.
/// </summary>
internal sealed class WeComApiHarness : IDisposable
{
    public const string CorpId = "wwtestcorp0001";
    public const string Secret = "S3cr3t-must-never-be-logged-9f8e7d";

    private WeComApiHarness(IHost host)
    {
        Host = host;
        Logs = host.Services.GetFakeLogCollector();
    }

    public IHost Host { get; }

    // Resolved on use, so options tests can see start-up validation fail first.
    public WeComApiClient Client => Host.Services.GetRequiredService<WeComApiClient>();

    public FakeLogCollector Logs { get; }

    public static WeComApiHarness Create(WireMockServer weCom, TimeProvider? timeProvider = null, IDictionary<string, string?>? settings = null)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        var config = new Dictionary<string, string?>
        {
            ["WeCom:CorpId"] = CorpId,
            ["WeCom:AgentId"] = "1000002",
            ["WeCom:Secret"] = Secret,
            ["WeCom:Token"] = "callbacktoken",
            ["WeCom:EncodingAesKey"] = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
            ["WeCom:ApiBaseUrl"] = weCom.Url + "/cgi-bin/",
            ["WeComApi:TransientBackoff"] = "00:00:00.001",
            ["WeComApi:RateLimitedBackoff"] = "00:00:00.001",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            config[key] = value;
        }
        builder.Configuration.AddInMemoryCollection(config);
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Trace);
        builder.Logging.AddFakeLogging();
        if (timeProvider is not null)
        {
            builder.Services.AddSingleton(timeProvider);
        }
        builder.AddWeComApi();
        return new WeComApiHarness(builder.Build());
    }

    public void Dispose() => Host.Dispose();
}

/// <summary>Stubs and request counts on the fake WeCom.</summary>
internal static class FakeWeCom
{
    public static string Json(int errCode, string errMsg = "", string extra = "") =>
        $$"""{"errcode":{{errCode}},"errmsg":"{{(errCode == 0 ? "ok" : errMsg)}}"{{(extra.Length == 0 ? "" : "," + extra)}}}""";

    public static IResponseBuilder Reply(int errCode, string extra = "") =>
        Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json").WithBody(Json(errCode, "error " + errCode, extra));

    public static IResponseBuilder TokenReply(string token, int expiresIn = 7200) =>
        Reply(0, $$"""
            "access_token":"{{token}}","expires_in":{{expiresIn}}
            """.Trim());

    public static void GivenToken(this WireMockServer server, string token, TimeSpan? delay = null)
    {
        var response = TokenReply(token);
        if (delay is { } d)
        {
            response = response.WithDelay(d);
        }
        server.Given(Request.Create().WithPath("/cgi-bin/gettoken").UsingGet()).RespondWith(response);
    }

    /// <summary>gettoken answers the given tokens in order, then keeps answering the last one.</summary>
    public static void GivenTokens(this WireMockServer server, params string[] tokens)
    {
        if (tokens.Length == 1)
        {
            server.GivenToken(tokens[0]);
            return;
        }
        var scenario = "tokens-" + Guid.NewGuid().ToString("N");
        for (var i = 0; i < tokens.Length; i++)
        {
            var request = server.Given(Request.Create().WithPath("/cgi-bin/gettoken").UsingGet()).InScenario(scenario);
            if (i > 0)
            {
                request = request.WhenStateIs("token-" + i);
            }
            request = request.WillSetStateTo("token-" + Math.Min(i + 1, tokens.Length - 1));
            request.RespondWith(TokenReply(tokens[i]));
        }
    }

    public static void GivenUser(this WireMockServer server, string? token = null, int errCode = 0)
    {
        var request = Request.Create().WithPath("/cgi-bin/user/get").UsingGet();
        if (token is not null)
        {
            request = request.WithParam("access_token", token);
        }
        server.Given(request).RespondWith(Reply(errCode, errCode == 0 ? "\"userid\":\"zhangsan\",\"name\":\"张三\",\"status\":1" : ""));
    }

    public static IReadOnlyList<ILogEntry> Requests(this WireMockServer server, string path) =>
        server.LogEntries.Where(e => e.RequestMessage?.Path == "/cgi-bin/" + path).ToList();

    public static int Count(this WireMockServer server, string path) => server.Requests(path).Count;

    public static string? TokenOf(ILogEntry entry) =>
        entry.RequestMessage?.Query is { } query && query.TryGetValue("access_token", out var values) ? values.FirstOrDefault() : null;
}
