using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;

namespace Bot.Bench;

/// <summary>
/// A Kestrel app that answers "success" on / (the bare-endpoint baseline) and answers every /cgi-bin path the welcome
/// flow calls with a minimal successful WeCom reply, at once, so a host pointed at it spends no time waiting on WeCom.
/// Optionally records the arrival time (Stopwatch ticks) of each send_welcome_msg by welcome_code.
/// </summary>
internal sealed class WeComStub : IAsyncDisposable
{
    private const string Ok = """{"errcode":0,"errmsg":"ok"}""";
    private const string Token = """{"errcode":0,"errmsg":"ok","access_token":"bench-token","expires_in":7200}""";
    private const string User = """{"errcode":0,"errmsg":"ok","userid":"guide01","name":"导购小王","status":1,"department":[1]}""";
    private const string Contact = """{"errcode":0,"errmsg":"ok","external_contact":{"external_userid":"wmbench","name":"张三","type":1,"gender":1},"follow_user":[]}""";

    // Every tag the shipped rules name, so get_corp_tag_list resolves them all and add_corp_tag is never needed.
    private const string Tags = """
        {"errcode":0,"errmsg":"ok","tag_group":[
        {"group_id":"g1","group_name":"客户来源","tag":[{"id":"t1","name":"上海门店"}]},
        {"group_id":"g2","group_name":"生命周期","tag":[{"id":"t2","name":"新客"}]},
        {"group_id":"g3","group_name":"兴趣","tag":[{"id":"t3","name":"咖啡"}]},
        {"group_id":"g4","group_name":"客户等级","tag":[{"id":"t4","name":"VIP群成员"}]}]}
        """;

    private readonly WebApplication _app;

    private WeComStub(WebApplication app) => _app = app;

    /// <summary>Arrival of each send_welcome_msg, in <see cref="Stopwatch.GetTimestamp"/> ticks, by welcome_code.</summary>
    public ConcurrentDictionary<string, long> WelcomeArrivals { get; } = new(StringComparer.Ordinal);

    public string Url => _app.Urls.First();

    public static async Task<WeComStub> StartAsync(string[] args, bool recordWelcomes, CancellationToken ct)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.Logging.ClearProviders();
        if (!recordWelcomes)
        {
            // Standing alone (bare-endpoint), it reports its own failures; inside welcome-latency it stays quiet.
            builder.Logging.AddConsole().SetMinimumLevel(LogLevel.Warning);
        }
        if (!args.Contains("--urls"))
        {
            builder.WebHost.UseUrls("http://127.0.0.1:0");
        }
        var app = builder.Build();
        var stub = new WeComStub(app);
        app.MapGet("/cgi-bin/gettoken", static () => Json(Token));
        app.MapGet("/cgi-bin/user/get", static () => Json(User));
        app.MapGet("/cgi-bin/externalcontact/get", static () => Json(Contact));
        app.MapPost("/cgi-bin/externalcontact/get_corp_tag_list", static () => Json(Tags));
        if (recordWelcomes)
        {
            app.MapPost("/cgi-bin/externalcontact/send_welcome_msg", async (HttpRequest request, CancellationToken token) =>
            {
                var arrived = Stopwatch.GetTimestamp();
                using var body = await JsonDocument.ParseAsync(request.Body, cancellationToken: token);
                if (body.RootElement.TryGetProperty("welcome_code", out var code) && code.GetString() is { } welcomeCode)
                {
                    stub.WelcomeArrivals.TryAdd(welcomeCode, arrived);
                }
                return Json(Ok);
            });
        }
        // Anything else (mark_tag, send_welcome_msg when not recording, message/send...) succeeds.
        app.Map("/cgi-bin/{**rest}", static () => Json(Ok));
        // The bare endpoint: "success" for GET or POST on any other path (wrk posts to /wecom/callback?...).
        app.MapFallback(static () => "success");
        await app.StartAsync(ct);
        return stub;
    }

    public Task WaitForShutdownAsync(CancellationToken ct) => _app.WaitForShutdownAsync(ct);

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();

    private static IResult Json(string body) => Results.Text(body, "application/json");
}
