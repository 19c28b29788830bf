using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Bot.Core.Storage;
using Bot.Core.WeCom.Callbacks;
using Bot.Tests.Fixtures;
using Dapper;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace Bot.Tests.ScaleOut;

/// <summary>
/// Three real Bot.Host processes on one SQLite file and one Redis, WeCom faked by one WireMock: a WeCom retry landing
/// on another instance is stored once, each callback is handled once, each welcome sent once, and quotas hold across
/// instances.
/// </summary>
[NonParallelizable]
public sealed class ScaleOutTests
{
    private const int Contacts = 300;

    // The welcome quota: small enough that 300 welcomes must queue for it, large enough that they all fit in the
    // 20 s a welcome_code lives.
    private const int WelcomeLimit = 40;
    private static readonly TimeSpan WelcomeWindow = TimeSpan.FromSeconds(1);

    private readonly List<(Process Process, StringBuilder Output)> _hosts = [];
    private string _directory = "";
    private WireMockServer? _weCom;

    [TearDown]
    public void TearDown()
    {
        foreach (var (process, _) in _hosts)
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(5_000);
            }
            process.Dispose();
        }
        _hosts.Clear();
        _weCom?.Stop();
        SqliteConnection.ClearAllPools();
        if (_directory.Length > 0)
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    [Test]
    [CancelAfter(60_000)]
    public async Task Three_hosts_store_and_handle_each_callback_once_send_each_welcome_once_and_share_the_quota(CancellationToken ct)
    {
        _directory = Path.Combine(Path.GetTempPath(), "wecombot-scaleout", Guid.NewGuid().ToString("N"));
        var rules = Path.Combine(_directory, "rules");
        Directory.CreateDirectory(rules);
        foreach (var file in Directory.GetFiles(RepoFiles.Path("rules"), "*.yaml"))
        {
            // Welcome tags would add mark_tag traffic that this test does not study.
            var lines = File.ReadAllLines(file).Where(l => Path.GetFileName(file) != "welcome.yaml" || !l.StartsWith("    tags:", StringComparison.Ordinal));
            File.WriteAllLines(Path.Combine(rules, Path.GetFileName(file)), lines);
        }
        var connectionString = $"Data Source={Path.Combine(_directory, "bot.db")}";
        // Migrated once up front, so three hosts starting together do not race to create the schema.
        await MigrateAsync(connectionString, ct);

        _weCom = WireMockServer.Start();
        _weCom.Given(Request.Create().WithPath("/cgi-bin/gettoken").UsingGet())
            .RespondWith(Response.Create().WithBodyAsJson(new { errcode = 0, errmsg = "ok", access_token = "TESTTOKEN", expires_in = 7200 }));
        _weCom.Given(Request.Create().WithPath("/cgi-bin/externalcontact/send_welcome_msg").UsingPost())
            .RespondWith(Response.Create().WithBodyAsJson(new { errcode = 0, errmsg = "ok" }));
        // Name look-ups fail for good: the welcome goes out with empty names, as it does in production.
        _weCom.Given(Request.Create().WithPath("/cgi-bin/externalcontact/get").UsingGet())
            .RespondWith(Response.Create().WithBodyAsJson(new { errcode = 84061, errmsg = "not external contact" }));
        _weCom.Given(Request.Create().WithPath("/cgi-bin/user/get").UsingGet())
            .RespondWith(Response.Create().WithBodyAsJson(new { errcode = 60011, errmsg = "no privilege to access/modify contact/party/agent" }));

        var environment = new Dictionary<string, string>
        {
            ["ASPNETCORE_ENVIRONMENT"] = "Testing",
            ["Logging__LogLevel__Default"] = "Warning",
            ["WeCom__CorpId"] = BotApp.CorpId,
            ["WeCom__AgentId"] = "1000002",
            ["WeCom__Secret"] = "test-secret-value",
            ["WeCom__Token"] = BotApp.Token,
            ["WeCom__EncodingAesKey"] = BotApp.EncodingAesKey,
            ["WeCom__ApiBaseUrl"] = _weCom.Url + "/cgi-bin/",
            ["ConnectionStrings__Bot"] = connectionString,
            ["Rules__Path"] = rules,
            ["Admin__ApiKey"] = BotApp.AdminKey,
            ["Redis__Configuration"] = RedisTestServer.Shared.Configuration,
            ["Redis__KeyPrefix"] = RedisTestServer.NewPrefix(),
            ["Quotas__Rules__test-welcome__Key"] = "{api}",
            ["Quotas__Rules__test-welcome__Limit"] = WelcomeLimit.ToString(CultureInfo.InvariantCulture),
            ["Quotas__Rules__test-welcome__Window"] = WelcomeWindow.ToString("c", CultureInfo.InvariantCulture),
            ["Quotas__Rules__test-welcome__Apis__0"] = "externalcontact/send_welcome_msg",
        };
        var urls = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            urls.Add(StartHost(environment));
        }
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        foreach (var url in urls)
        {
            await UntilAsync(async () => await IsReadyAsync(http, url + "/healthz", ct), "host ready", ct);
        }

        // Each contact's callback goes to a random host, and about half are retried by "WeCom" to another random host.
        var random = new Random(7);
        var crypto = new CallbackCrypto(BotApp.Token, BotApp.EncodingAesKey, BotApp.CorpId);
        var posts = new List<(string Url, string Xml)>();
        var createTime = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        for (var i = 0; i < Contacts; i++)
        {
            var xml = BotApp.ContactAdded($"wmSCALE{i:D4}", $"WELCOME{i:D4}", createTime: createTime);
            posts.Add((urls[random.Next(urls.Count)], xml));
            if (random.Next(2) == 0)
            {
                posts.Add((urls[random.Next(urls.Count)], xml));
            }
        }
        var deliveries = posts.Count;
        var statuses = new System.Collections.Concurrent.ConcurrentBag<HttpStatusCode>();
        await Parallel.ForEachAsync(posts.OrderBy(_ => random.Next()).ToList(), new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = ct },
            async (post, token) =>
            {
                using var response = await http.SendAsync(Signed(crypto, post.Url, post.Xml), token);
                statuses.Add(response.StatusCode);
            });
        Assert.That(statuses, Is.All.EqualTo(HttpStatusCode.OK), HostOutput());

        await UntilAsync(() => Task.FromResult(WelcomeCalls().Count >= Contacts), $"{Contacts} welcomes sent", ct);
        // Every outbox item has settled; a duplicate would have to be among them.
        await UntilAsync(async () => await ScalarAsync(connectionString, "SELECT COUNT(*) FROM outbox WHERE state IN ('pending', 'sending')", ct) == 0, "outbox settled", ct);
        await UntilAsync(async () => await ScalarAsync(connectionString, "SELECT COUNT(*) FROM inbox WHERE state <> 'handled'", ct) == 0, "inbox handled", ct);

        var welcomes = WelcomeCalls();
        var codes = welcomes.Select(w => w.Code).ToList();
        Assert.Multiple(async () =>
        {
            Assert.That(deliveries, Is.GreaterThan(Contacts), "some callbacks were delivered twice");
            Assert.That(await ScalarAsync(connectionString, "SELECT COUNT(*) FROM inbox", ct), Is.EqualTo(Contacts), "inbox rows");
            Assert.That(await ScalarAsync(connectionString, "SELECT COUNT(DISTINCT dedupe_key) FROM inbox", ct), Is.EqualTo(Contacts));
            Assert.That(await ScalarAsync(connectionString, "SELECT COUNT(*) FROM outbox WHERE kind = 'welcome'", ct), Is.EqualTo(Contacts), "welcome items");
            Assert.That(await ScalarAsync(connectionString, "SELECT COUNT(*) FROM outbox WHERE kind = 'welcome' AND state = 'sent' AND attempts = 1", ct),
                Is.EqualTo(Contacts), "welcomes sent at the first attempt");
            Assert.That(codes, Is.Unique, "a welcome_code sent twice");
            Assert.That(codes, Is.EquivalentTo(Enumerable.Range(0, Contacts).Select(i => $"WELCOME{i:D4}")));
            Assert.That(MostInAnyWindow(welcomes.Select(w => w.At).ToList()), Is.LessThanOrEqualTo(WelcomeLimit), "the shared quota was exceeded");
        });
        TestContext.Out.WriteLine($"{deliveries} deliveries of {Contacts} callbacks to 3 hosts; welcomes spread over {(welcomes.Max(w => w.At) - welcomes.Min(w => w.At)).TotalSeconds:F1} s, at most {MostInAnyWindow(welcomes.Select(w => w.At).ToList())} in any window");
        // The quota must actually have held the welcomes back, or the window check above proves nothing.
        var spread = welcomes.Max(w => w.At) - welcomes.Min(w => w.At);
        Assert.That(spread, Is.GreaterThanOrEqualTo(WelcomeWindow * (Contacts / WelcomeLimit - 1)));
    }

    private string StartHost(IReadOnlyDictionary<string, string> environment)
    {
        var url = $"http://127.0.0.1:{FreePort()}";
        var binaries = HostBinaries();
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = binaries,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(binaries, "Bot.Host.dll"));
        start.ArgumentList.Add("--urls");
        start.ArgumentList.Add(url);
        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }
        var process = new Process { StartInfo = start };
        var output = new StringBuilder();
        // Drained continuously: a full pipe would block the host's logging.
        process.OutputDataReceived += (_, e) => Append(output, e.Data);
        process.ErrorDataReceived += (_, e) => Append(output, e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _hosts.Add((process, output));
        return url;
    }

    // Bot.Host/bin/<configuration>/net10.0, the configuration being the one these tests were built in.
    private static string HostBinaries()
    {
        var tests = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var folder = RepoFiles.Path("Bot.Host", "bin", tests.Parent!.Name, tests.Name);
        Assert.That(File.Exists(Path.Combine(folder, "Bot.Host.dll")), $"{folder} holds no Bot.Host.dll");
        return folder;
    }

    private static void Append(StringBuilder output, string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (output)
        {
            output.AppendLine(line);
        }
    }

    private string HostOutput() => string.Join("\n---\n", _hosts.Select(h =>
    {
        lock (h.Output)
        {
            return h.Output.ToString();
        }
    }));

    private List<(string Code, DateTime At)> WelcomeCalls() =>
        _weCom!.LogEntries
            .Where(e => e.RequestMessage?.Path == "/cgi-bin/externalcontact/send_welcome_msg")
            .Select(e => (JsonDocument.Parse(e.RequestMessage!.Body!).RootElement.GetProperty("welcome_code").GetString()!, e.RequestMessage.DateTime))
            .ToList();

    /// <summary>
    /// The most calls WeCom saw within any window. The limiter counts at acquisition, a few milliseconds before the
    /// request lands here, so the window looked at is shortened by that slack to avoid blaming the limiter for jitter.
    /// </summary>
    private static int MostInAnyWindow(List<DateTime> times)
    {
        var window = WelcomeWindow - TimeSpan.FromMilliseconds(150);
        times.Sort();
        var most = 0;
        for (int start = 0, end = 0; start < times.Count; start++)
        {
            while (end < times.Count && times[end] < times[start] + window)
            {
                end++;
            }
            most = Math.Max(most, end - start);
        }
        return most;
    }

    private static HttpRequestMessage Signed(CallbackCrypto crypto, string baseUrl, string xml)
    {
        // A retry is encrypted afresh (new nonce, new IV) as WeCom does, so only the plaintext identifies it.
        var timestamp = DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var nonce = Random.Shared.Next(100_000, 999_999).ToString(CultureInfo.InvariantCulture);
        var encrypt = crypto.Encrypt(xml);
        var signature = crypto.Sign(timestamp, nonce, encrypt);
        var body = $"<xml><ToUserName><![CDATA[{BotApp.CorpId}]]></ToUserName><AgentID><![CDATA[1000002]]></AgentID><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>";
        return new HttpRequestMessage(HttpMethod.Post, $"{baseUrl}/wecom/callback?msg_signature={signature}&timestamp={timestamp}&nonce={nonce}")
        {
            Content = new StringContent(body, Encoding.UTF8, "application/xml"),
        };
    }

    private static async Task MigrateAsync(string connectionString, CancellationToken ct)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["ConnectionStrings:Bot"] = connectionString });
        builder.AddStorage();
        using var host = builder.Build();
        await host.Services.GetRequiredService<MigrationRunner>().ApplyAsync(ct);
    }

    private static async Task<long> ScalarAsync(string connectionString, string sql, CancellationToken ct)
    {
        await using var connection = new SqliteConnection(connectionString);
        await connection.OpenAsync(ct);
        return await connection.ExecuteScalarAsync<long>(new CommandDefinition(sql, cancellationToken: ct));
    }

    private static async Task<bool> IsReadyAsync(HttpClient http, string url, CancellationToken ct)
    {
        try
        {
            using var response = await http.GetAsync(url, ct);
            return response.IsSuccessStatusCode;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }

    // The condition lives in other processes, so there is nothing to await on; a host that died ends the wait.
    private Task UntilAsync(Func<Task<bool>> condition, string what, CancellationToken ct) =>
        Eventually.UntilAsync(
            async () =>
            {
                if (_hosts.Any(h => h.Process.HasExited))
                {
                    Assert.Fail($"a host exited while waiting for: {what}\n{HostOutput()}");
                }
                return await condition();
            },
            done => done, _ => $"{what}\n{HostOutput()}", TimeSpan.FromSeconds(40), ct);

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
