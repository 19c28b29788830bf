using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Bot.Core.Outbox;
using Bot.Core.WeCom.Callbacks;
using Bot.Tests.Fixtures;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using Microsoft.Extensions.Time.Testing;
using WireMock.Server;

namespace Bot.Tests.EndToEnd;

/// <summary>
/// The real Bot.Host process, killed while WeCom has not answered, then started again on the same database: what it
/// acknowledged is stored, handled, and every welcome reaches WeCom exactly once.
/// </summary>
[TestFixture]
public sealed class CrashRecoveryTests
{
    private const int Callbacks = 200;

    [Test]
    public async Task Callbacks_acknowledged_before_a_kill_are_all_handled_after_a_restart_and_each_welcome_is_sent_once()
    {
        var directory = Path.Combine(Path.GetTempPath(), "wecombot-crash", Guid.NewGuid().ToString("N"));
        var rules = Path.Combine(directory, "rules");
        Directory.CreateDirectory(rules);
        foreach (var file in Directory.GetFiles(RepoFiles.Path("rules"), "*.yaml"))
        {
            File.Copy(file, Path.Combine(rules, Path.GetFileName(file)));
        }
        FakeWeCom.RemoveWelcomeTimeWindow(rules);
        var database = Path.Combine(directory, "bot.db");
        var crypto = new CallbackCrypto(BotApp.Token, BotApp.EncodingAesKey, BotApp.CorpId);

        // First life: WeCom takes the welcome requests and never answers in time. It is stopped only at the end: a
        // WireMock stop waits for its delayed answers, and the welcome codes live 20 s. Both keep more than the
        // default request log, which would drop the calls being counted.
        var silent = WireMockServer.Start(new WireMock.Settings.WireMockServerSettings { MaxRequestLogCount = 100_000 });
        FakeWeCom.StubAll(silent, answerWelcomes: false);
        silent.Given(Request.Create().WithPath("/cgi-bin/externalcontact/send_welcome_msg").UsingPost())
            .RespondWith(Response.Create().WithDelay(TimeSpan.FromSeconds(60)).WithBodyAsJson(new { errcode = 0, errmsg = "ok" }));
        var answering = WireMockServer.Start(new WireMock.Settings.WireMockServerSettings { MaxRequestLogCount = 100_000 });
        FakeWeCom.StubAll(answering);
        var port = FreePort();
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        var acknowledged = new ConcurrentBag<string>();
        try
        {
            using (var first = await HostProcess.StartAsync(port, silent.Url!, database, rules, http))
            {
                await Parallel.ForEachAsync(Enumerable.Range(0, Callbacks), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, ct) =>
                {
                    var code = $"CRASH-{i:D3}";
                    using var request = Signed(crypto, BotApp.ContactAdded($"wmCrash{i:D3}", code, state: "store-sh-001"));
                    using var response = await http.SendAsync(request, ct);
                    if (response.StatusCode == HttpStatusCode.OK)
                    {
                        acknowledged.Add(code);
                    }
                });
                // Handling is in flight: welcomes are claimed and WeCom holds them unanswered (WireMock logs a request only once it answers).
                await FakeWeCom.WaitForDatabaseAsync(database, "SELECT COUNT(*) FROM outbox WHERE kind = 'welcome' AND claim_token IS NOT NULL", n => n > 0, TimeSpan.FromSeconds(10));
                first.Kill();
            }
            Assert.That(acknowledged, Has.Count.EqualTo(Callbacks), "every callback should have been acknowledged before the kill");

            // A fresh client: the pooled connections of the first one led to the killed process.
            using var http2 = new HttpClient { BaseAddress = http.BaseAddress };
            using (await HostProcess.StartAsync(port, answering.Url!, database, rules, http2))
            {
                await FakeWeCom.WaitForDatabaseAsync(database, "SELECT COUNT(*) FROM inbox WHERE state = 'handled'", n => n == Callbacks, TimeSpan.FromSeconds(30));
                await FakeWeCom.WaitForAsync(answering, "externalcontact/send_welcome_msg", count: Callbacks, timeout: TimeSpan.FromSeconds(30));

                Assert.That(await FakeWeCom.ScalarAsync(database, "SELECT COUNT(*) FROM inbox"), Is.EqualTo(Callbacks));
                var answeredCodes = FakeWeCom.Calls(answering, "externalcontact/send_welcome_msg")
                    .Where(e => FakeWeCom.StatusOf(e) == 200)
                    .Select(e => FakeWeCom.Json(e).GetProperty("welcome_code").GetString()!)
                    .ToList();
                Assert.That(answeredCodes.GroupBy(c => c).Where(g => g.Count() > 1).Select(g => g.Key), Is.Empty, "a welcome code WeCom accepted was sent again");
                Assert.That(answeredCodes, Is.EquivalentTo(acknowledged));
            }
        }
        finally
        {
            silent.Stop();
            answering.Stop();
            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (IOException)
            {
                // Best effort.
            }
        }
    }

    [Test]
    public async Task A_welcome_whose_host_died_after_WeCom_answered_is_unknown_after_the_restart_not_expired_before_sending()
    {
        // The second life runs in-process on this app's database and rules; the first is a real process killed mid-call.
        using var bot = new BotApp(editRules: rules => FakeWeCom.RemoveWelcomeTimeWindow(rules));
        FakeWeCom.StubAll(bot.WeCom, answerWelcomes: false);
        HostProcess? first = null;
        var calls = 0;
        var killed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bot.WeCom.Given(Request.Create().WithPath("/cgi-bin/externalcontact/send_welcome_msg").UsingPost())
            .RespondWith(Response.Create().WithCallback(_ =>
            {
                // WeCom applies the welcome and answers errcode 0, but the host dies before it can record that.
                if (Interlocked.Increment(ref calls) == 1)
                {
                    first!.Kill();
                    killed.TrySetResult();
                }
                return new WireMock.ResponseMessage
                {
                    StatusCode = 200,
                    BodyData = new WireMock.Util.BodyData
                    {
                        BodyAsString = """{"errcode":0,"errmsg":"ok"}""",
                        DetectedBodyType = WireMock.Types.BodyType.String,
                    },
                };
            }));
        var port = FreePort();
        using (var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") })
        using (first = await HostProcess.StartAsync(port, bot.WeCom.Url!, bot.DatabasePath, bot.RulesPath, http))
        {
            var crypto = new CallbackCrypto(BotApp.Token, BotApp.EncodingAesKey, BotApp.CorpId);
            using var response = await http.SendAsync(Signed(crypto, BotApp.ContactAdded("wmAnswered", "WELCOME-ANSWERED")));
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            await killed.Task.WaitAsync(TimeSpan.FromSeconds(30));
        }
        Assert.That(await FakeWeCom.ScalarAsync(bot.DatabasePath, "SELECT COUNT(*) FROM outbox WHERE kind = 'welcome' AND state = 'sending'"), Is.EqualTo(1),
            "the outcome was never written");

        // The host comes back after the claim's lease and the welcome code's 20 s have both run out.
        using var second = Outbox.CampaignPreflightTests.OnClock(bot, new FakeTimeProvider(DateTimeOffset.UtcNow + TimeSpan.FromMinutes(1)));
        using var admin = Outbox.CampaignPreflightTests.AdminClient(second);
        await FakeWeCom.WaitForDatabaseAsync(bot.DatabasePath,
            "SELECT COUNT(*) FROM outbox WHERE kind = 'welcome' AND state NOT IN ('pending', 'sending')", n => n == 1);

        var unknown = await admin.GetFromJsonAsync<List<OutboxItem>>("/admin/outbox/unknown", Json);
        var expired = await admin.GetFromJsonAsync<List<OutboxItem>>("/admin/outbox/expired", Json);
        var welcome = unknown!.SingleOrDefault(i => i.Kind == OutboxKinds.Welcome);
        Assert.Multiple(() =>
        {
            Assert.That(expired!.Where(i => i.Kind == OutboxKinds.Welcome).Select(i => i.LastError), Is.Empty, "a welcome WeCom may have applied is not expired");
            Assert.That(welcome, Is.Not.Null, "the welcome is in doubt: unknown");
            Assert.That(welcome?.LastError, Does.Contain("may have been applied").And.Not.Contain("before sending"));
            Assert.That(calls, Is.EqualTo(1), "the dead welcome code is not sent again");
        });
    }

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { Converters = { new JsonStringEnumConverter() } };

    private static HttpRequestMessage Signed(CallbackCrypto crypto, string plaintext)
    {
        var timestamp = DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        var nonce = Random.Shared.Next(100_000, 999_999).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var encrypt = crypto.Encrypt(plaintext);
        var body = $"<xml><ToUserName><![CDATA[{BotApp.CorpId}]]></ToUserName><AgentID><![CDATA[1000002]]></AgentID><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>";
        return new HttpRequestMessage(HttpMethod.Post, $"/wecom/callback?msg_signature={crypto.Sign(timestamp, nonce, encrypt)}&timestamp={timestamp}&nonce={nonce}")
        {
            Content = new StringContent(body, Encoding.UTF8, "application/xml"),
        };
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Bot.Host.dll as a child process, built beside this test assembly (same configuration).</summary>
    private sealed class HostProcess : IDisposable
    {
        private readonly Process _process;
        private readonly ConcurrentQueue<string> _output = new();

        private HostProcess(Process process) => _process = process;

        public static async Task<HostProcess> StartAsync(int port, string weComUrl, string database, string rules, HttpClient http)
        {
            // .../Bot.Tests/bin/<Configuration>/net10.0/ → .../Bot.Host/bin/<Configuration>/net10.0/Bot.Host.dll
            var testBin = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
            var configuration = testBin.Parent!.Name;
            var dll = RepoFiles.Path("Bot.Host", "bin", configuration, testBin.Name, "Bot.Host.dll");
            Assert.That(File.Exists(dll), Is.True, $"{dll} is not built");
            var start = new ProcessStartInfo("dotnet")
            {
                ArgumentList = { dll, "--urls", $"http://127.0.0.1:{port}" },
                WorkingDirectory = Path.GetDirectoryName(dll)!,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            var environment = new Dictionary<string, string>
            {
                ["ASPNETCORE_ENVIRONMENT"] = "Testing",
                ["WeCom__CorpId"] = BotApp.CorpId,
                ["WeCom__AgentId"] = "1000002",
                ["WeCom__Secret"] = "test-secret-value",
                ["WeCom__Token"] = BotApp.Token,
                ["WeCom__EncodingAesKey"] = BotApp.EncodingAesKey,
                ["WeCom__ApiBaseUrl"] = weComUrl + "/cgi-bin/",
                ["ConnectionStrings__Bot"] = $"Data Source={database}",
                ["Rules__Path"] = rules,
                ["Admin__ApiKey"] = BotApp.AdminKey,
                ["Redis__Configuration"] = "",
                // Claims of the killed process must lapse quickly, or the 20 s welcome codes die waiting for them.
                ["Inbox__LeaseDuration"] = "00:00:02",
                ["Outbox__LeaseDuration"] = "00:00:02",
                ["Logging__LogLevel__Default"] = "Warning",
            };
            foreach (var (key, value) in environment)
            {
                start.Environment[key] = value;
            }
            var process = Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start");
            var host = new HostProcess(process);
            process.OutputDataReceived += (_, e) => host.Record(e.Data);
            process.ErrorDataReceived += (_, e) => host.Record(e.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (true)
            {
                if (process.HasExited)
                {
                    Assert.Fail($"Bot.Host exited with {process.ExitCode}:\n{host.Output}");
                }
                try
                {
                    using var response = await http.GetAsync("/healthz");
                    if (response.IsSuccessStatusCode)
                    {
                        return host;
                    }
                }
                catch (HttpRequestException)
                {
                    // Not listening yet.
                }
                if (DateTime.UtcNow > deadline)
                {
                    host.Dispose();
                    Assert.Fail($"Bot.Host did not become healthy:\n{host.Output}");
                }
                await Task.Delay(100);
            }
        }

        public string Output => string.Join('\n', _output.TakeLast(60));

        private void Record(string? line)
        {
            if (line is not null)
            {
                _output.Enqueue(line);
            }
        }

        public void Kill()
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }

        public void Dispose()
        {
            if (!_process.HasExited)
            {
                TestContext.Out.WriteLine(Output);
                Kill();
            }
            _process.Dispose();
        }
    }
}
