using System.Net.Http.Headers;
using System.Text;
using Bot.Core.WeCom.Callbacks;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace Bot.Tests.Fixtures;

/// <summary>
/// The real host over real HTTP (in-memory TestServer transport), on a fresh SQLite file and a copy of the rule
/// files, with WireMock.Net standing in for the WeCom server (gettoken answered). Sign and encrypt callbacks with
/// <see cref="SignedPost"/>.
/// </summary>
public sealed class BotApp : WebApplicationFactory<Program>
{
    public const string CorpId = "wwtestcorp00000001";
    public const string Token = "testtoken";
    public const string EncodingAesKey = "VgutXdzEREAEHYuAqOkHIhr2sBTjVCM33sB9JkVVpTo";
    public const string AdminKey = "test-admin-key-0123456789";

    private readonly Dictionary<string, string?> _settings;

    private readonly TimeProvider? _time;

    /// <param name="time">
    /// A clock for the whole host (workers, stores, the limiter), e.g. a <c>FakeTimeProvider</c> a test advances; the
    /// system clock when null.
    /// </param>
    public BotApp(Action<string>? editRules = null, IDictionary<string, string?>? settings = null, TimeProvider? time = null)
    {
        _time = time;
        Directory = Path.Combine(Path.GetTempPath(), "wecombot-app", Guid.NewGuid().ToString("N"));
        RulesPath = Path.Combine(Directory, "rules");
        System.IO.Directory.CreateDirectory(RulesPath);
        foreach (var file in System.IO.Directory.GetFiles(RepoFiles.Path("rules"), "*.yaml"))
        {
            File.Copy(file, Path.Combine(RulesPath, Path.GetFileName(file)));
        }
        editRules?.Invoke(RulesPath);
        WeCom = WireMockServer.Start();
        WeCom.Given(Request.Create().WithPath("/cgi-bin/gettoken").UsingGet())
            .RespondWith(Response.Create().WithBodyAsJson(new { errcode = 0, errmsg = "ok", access_token = "TESTTOKEN", expires_in = 7200 }));
        Crypto = new CallbackCrypto(Token, EncodingAesKey, CorpId);
        RobotCrypto = settings?.TryGetValue("WeCom:RobotToken", out var robotToken) == true && robotToken is { Length: > 0 }
            ? new CallbackCrypto(robotToken, settings["WeCom:RobotEncodingAesKey"]!, "")
            : new CallbackCrypto(Token, EncodingAesKey, "");
        _settings = new Dictionary<string, string?>
        {
            ["WeCom:CorpId"] = CorpId,
            ["WeCom:AgentId"] = "1000002",
            ["WeCom:Secret"] = "test-secret-value",
            ["WeCom:Token"] = Token,
            ["WeCom:EncodingAesKey"] = EncodingAesKey,
            ["WeCom:ApiBaseUrl"] = WeCom.Url + "/cgi-bin/",
            ["ConnectionStrings:Bot"] = $"Data Source={Path.Combine(Directory, "bot.db")}",
            ["Rules:Path"] = RulesPath,
            ["Admin:ApiKey"] = AdminKey,
            ["Redis:Configuration"] = "",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            _settings[key] = value;
        }
    }

    public string Directory { get; }

    public string RulesPath { get; }

    public string DatabasePath => Path.Combine(Directory, "bot.db");

    public WireMockServer WeCom { get; }

    public CallbackCrypto Crypto { get; }

    public CallbackCrypto RobotCrypto { get; }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Testing");
        foreach (var (key, value) in _settings)
        {
            builder.UseSetting(key, value);
        }
        builder.ConfigureAppConfiguration(config => config.AddInMemoryCollection(_settings));
        builder.ConfigureLogging(logging => logging.AddFakeLogging());
        if (_time is { } time)
        {
            builder.ConfigureTestServices(services => services.AddSingleton(time));
        }
    }

    /// <summary>Every log record the host wrote, for tests that assert what an operator would read.</summary>
    public FakeLogCollector Logs => Services.GetFakeLogCollector();

    public HttpClient CreateAdminClient()
    {
        var client = CreateClient();
        client.DefaultRequestHeaders.Add("X-Admin-Key", AdminKey);
        return client;
    }

    /// <summary>A POST to the app callback URL carrying <paramref name="plaintextXml"/>, encrypted and signed as WeCom does.</summary>
    public HttpRequestMessage SignedPost(string plaintextXml, DateTimeOffset? at = null, string path = "/wecom/callback")
    {
        var timestamp = (at ?? DateTimeOffset.UtcNow).ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        var nonce = Random.Shared.Next(100_000, 999_999).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var encrypt = Crypto.Encrypt(plaintextXml);
        var signature = Crypto.Sign(timestamp, nonce, encrypt);
        var body = $"<xml><ToUserName><![CDATA[{CorpId}]]></ToUserName><AgentID><![CDATA[1000002]]></AgentID><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>";
        return new HttpRequestMessage(HttpMethod.Post, $"{path}?msg_signature={signature}&timestamp={timestamp}&nonce={nonce}")
        {
            Content = new StringContent(body, Encoding.UTF8, new MediaTypeHeaderValue("application/xml")),
        };
    }

    /// <summary>A POST to the robot callback URL carrying robot JSON, encrypted with the empty receiveId.</summary>
    public HttpRequestMessage SignedRobotPost(string json, DateTimeOffset? at = null)
    {
        var timestamp = (at ?? DateTimeOffset.UtcNow).ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        var nonce = Random.Shared.Next(100_000, 999_999).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var encrypt = RobotCrypto.Encrypt(json);
        var signature = RobotCrypto.Sign(timestamp, nonce, encrypt);
        return new HttpRequestMessage(HttpMethod.Post, $"/wecom/bot/callback?msg_signature={signature}&timestamp={timestamp}&nonce={nonce}")
        {
            Content = new StringContent(System.Text.Json.JsonSerializer.Serialize(new { encrypt }), Encoding.UTF8, "application/json"),
        };
    }

    public static string ContactAdded(string externalUserId, string welcomeCode, string state = "store-sh-001", string guide = "guide01", long? createTime = null) =>
        $"<xml><ToUserName><![CDATA[{CorpId}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>{createTime ?? DateTimeOffset.UtcNow.ToUnixTimeSeconds()}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[add_external_contact]]></ChangeType><UserID><![CDATA[{guide}]]></UserID><ExternalUserID><![CDATA[{externalUserId}]]></ExternalUserID><State><![CDATA[{state}]]></State><WelcomeCode><![CDATA[{welcomeCode}]]></WelcomeCode></xml>";

    public T Service<T>() where T : notnull => Services.GetRequiredService<T>();

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            WeCom.Stop();
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            try
            {
                System.IO.Directory.Delete(Directory, recursive: true);
            }
            catch (IOException)
            {
                // Best effort: the temp folder is cleaned by the OS otherwise.
            }
        }
    }
}
