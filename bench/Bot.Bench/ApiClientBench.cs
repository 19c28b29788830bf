using System.Text.Json;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using Bot.Core.WeCom.Api;

namespace Bot.Bench;

/// <summary>
/// Overhead of one <see cref="WeComApiClient"/> call (token cache, resilience pipeline, errcode funnel, metrics,
/// logging) against a raw HttpClient GET + the same JSON parse, both against a bare local Kestrel stub in one run.
/// Goal: the client costs at most 1.3× the raw call. Run: `dotnet run -c Release --project bench/Bot.Bench -- apiclient`.
/// </summary>
[MemoryDiagnoser]
public class ApiClientBench
{
    private const string TokenJson = """{"errcode":0,"errmsg":"ok","access_token":"bench-token","expires_in":7200}""";
    private const string UserJson = """{"errcode":0,"errmsg":"ok","userid":"zhangsan","name":"张三","status":1,"department":[1,2]}""";

    private WebApplication _stub = null!;
    private HttpClient _raw = null!;
    private IHost _bot = null!;
    private WeComApiClient _client = null!;

    public static Task RunAsync(string[] args)
    {
        BenchmarkSwitcher.FromTypes([typeof(ApiClientBench)]).Run(args);
        return Task.CompletedTask;
    }

    [GlobalSetup]
    public async Task StartAsync()
    {
        var stubBuilder = WebApplication.CreateSlimBuilder();
        stubBuilder.Logging.ClearProviders();
        stubBuilder.WebHost.UseUrls("http://127.0.0.1:0");
        _stub = stubBuilder.Build();
        _stub.MapGet("/cgi-bin/gettoken", static () => Results.Text(TokenJson, "application/json"));
        _stub.MapGet("/cgi-bin/user/get", static () => Results.Text(UserJson, "application/json"));
        await _stub.StartAsync();
        var baseUrl = _stub.Urls.First() + "/cgi-bin/";

        _raw = new HttpClient { BaseAddress = new Uri(baseUrl) };

        var botBuilder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        botBuilder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["WeCom:CorpId"] = "wwbench",
            ["WeCom:AgentId"] = "1000002",
            ["WeCom:Secret"] = "bench-secret",
            ["WeCom:Token"] = "bench",
            ["WeCom:EncodingAesKey"] = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
            ["WeCom:ApiBaseUrl"] = baseUrl,
        });
        botBuilder.Logging.ClearProviders();
        botBuilder.AddWeComApi();
        _bot = botBuilder.Build();
        _client = _bot.Services.GetRequiredService<WeComApiClient>();
        await _client.GetUserAsync("zhangsan", CancellationToken.None);
    }

    [GlobalCleanup]
    public async Task StopAsync()
    {
        _bot.Dispose();
        _raw.Dispose();
        await _stub.StopAsync();
        await _stub.DisposeAsync();
    }

    [Benchmark(Baseline = true)]
    public async Task<string?> RawHttpClient()
    {
        using var response = await _raw.GetAsync("user/get?userid=zhangsan&access_token=bench-token");
        await using var stream = await response.Content.ReadAsStreamAsync();
        var reply = await JsonSerializer.DeserializeAsync(stream, WeComJsonContext.Wire.UserReply);
        return reply!.ErrCode == 0 ? reply.Name : throw new InvalidOperationException("stub failed");
    }

    [Benchmark]
    public async Task<string> WeComClient() => (await _client.GetUserAsync("zhangsan", CancellationToken.None)).Name;
}
