using System.Net;
using System.Net.Sockets;
using Bot.Tests.EndToEnd;
using Bot.Tests.Fixtures;
using WireMock.Server;

namespace Bot.Tests.Inbox;

/// <summary>
/// Real Bot.Host processes killed while handling callbacks (WeCom never answers them), then a host started on the same
/// SQLite file: what the dead process held is taken back at once by its own restart, a welcome is taken over within
/// its 20 s by any instance, and the leases of an instance that is still running are left alone.
/// </summary>
[NonParallelizable]
public sealed class InboxLeaseRecoveryTests
{
    private const int Callbacks = 5;

    // The first life waits on WeCom far longer than any test runs, so its callbacks stay in handling until the kill.
    private static readonly Dictionary<string, string?> Stalled = new() { ["WeComApi:AttemptTimeout"] = "00:01:00" };

    private ProcessWorkspace _workspace = null!;
    private WireMockServer _answering = null!;
    private BlackHole _silent = null!;
    private readonly List<BotProcess> _hosts = [];

    [SetUp]
    public void CreateFolder()
    {
        _workspace = new ProcessWorkspace("wecombot-leases");
        _answering = WireMockServer.Start();
        FakeWeCom.StubAll(_answering);
        _silent = new BlackHole();
    }

    [TearDown]
    public void Cleanup()
    {
        foreach (var host in _hosts)
        {
            if (TestContext.CurrentContext.Result.Outcome.Status == NUnit.Framework.Interfaces.TestStatus.Failed)
            {
                TestContext.Out.WriteLine($"--- host {host.ProcessId}\n{host.Output}");
            }
            host.Dispose();
        }
        _hosts.Clear();
        _silent.Dispose();
        _answering.Stop();
        _workspace.Dispose();
    }

    [Test]
    [CancelAfter(120_000)]
    public async Task A_restarted_host_takes_back_the_callbacks_it_was_handling_at_once_instead_of_waiting_out_their_leases()
    {
        var first = await StartAsync(_silent.Url, Stalled);
        await PostAsync(first, Enumerable.Range(0, Callbacks).Select(i => ChatCreated($"wrLease{i}")));
        // The first claim is stuck on WeCom, so the callbacks after it wait unleased; the restart must not wait out that one.
        await FakeWeCom.WaitForDatabaseAsync(_workspace.Database, "SELECT COUNT(*) FROM inbox WHERE lease_owner IS NOT NULL", n => n >= 1);
        var leasedUntil = await FakeWeCom.ScalarAsync(_workspace.Database, "SELECT MIN(lease_until) FROM inbox WHERE lease_owner IS NOT NULL");
        first.Kill();

        await StartAsync(_answering.Url!);
        // Longer than the 30 s lease, so that a host waiting it out fails the assertion below rather than this wait.
        await FakeWeCom.WaitForDatabaseAsync(_workspace.Database, "SELECT COUNT(*) FROM inbox WHERE state = 'handled'", n => n == Callbacks, TimeSpan.FromSeconds(45));
        var lastHandled = await FakeWeCom.ScalarAsync(_workspace.Database, "SELECT MAX(handled_at) FROM inbox");

        Assert.That(DateTimeOffset.FromUnixTimeMilliseconds(lastHandled), Is.LessThan(DateTimeOffset.FromUnixTimeMilliseconds(leasedUntil)),
            "every callback was handled before the dead process's leases would have run out");
        Assert.That(FakeWeCom.Calls(_answering, "externalcontact/groupchat/get"), Has.Count.EqualTo(Callbacks));
    }

    [Test]
    [CancelAfter(120_000)]
    public async Task A_welcome_held_by_a_dead_instance_is_taken_over_by_another_instance_and_sent_within_its_20_seconds()
    {
        var first = await StartAsync(_silent.Url, new(Stalled) { ["Inbox:InstanceId"] = "bot-a" });
        var codes = Enumerable.Range(0, Callbacks).Select(i => $"LEASE-WELCOME-{i}").ToList();
        await PostAsync(first, codes.Select((code, i) => BotApp.ContactAdded($"wmLease{i}", code)));
        await FakeWeCom.WaitForDatabaseAsync(_workspace.Database, "SELECT COUNT(*) FROM inbox WHERE lease_owner IS NOT NULL", n => n >= 1);
        first.Kill();

        // Another instance (a replacement pod): it cannot tell the dead one's leases from a live one's, so it waits
        // them out; for welcomes they are short enough to leave it time to send.
        await StartAsync(_answering.Url!, new() { ["Inbox:InstanceId"] = "bot-b" });
        var sent = await FakeWeCom.WaitForAsync(_answering, "externalcontact/send_welcome_msg", count: Callbacks, timeout: TimeSpan.FromSeconds(45));

        Assert.That(sent.Select(e => FakeWeCom.Json(e).GetProperty("welcome_code").GetString()), Is.EquivalentTo(codes));
        // WeCom has the calls; each item's sent state is written just after its answer.
        await FakeWeCom.WaitForDatabaseAsync(_workspace.Database, "SELECT COUNT(*) FROM outbox WHERE kind = 'welcome' AND state = 'sent'", n => n == Callbacks);
    }

    [Test]
    [CancelAfter(120_000)]
    public async Task A_host_starting_beside_a_running_one_on_the_same_machine_leaves_that_ones_leases_alone()
    {
        var running = await StartAsync(_silent.Url, Stalled);
        await PostAsync(running, [ChatCreated("wrBusy")]);
        await FakeWeCom.WaitForDatabaseAsync(_workspace.Database, "SELECT COUNT(*) FROM inbox WHERE lease_owner IS NOT NULL", n => n == 1);

        var starting = await StartAsync(_answering.Url!);
        // Handled by the new host: its start-up, where it takes back its own earlier leases, is behind it.
        await PostAsync(starting, [ChatCreated("wrMarker")]);
        await FakeWeCom.WaitForDatabaseAsync(_workspace.Database, "SELECT COUNT(*) FROM inbox WHERE state = 'handled'", n => n == 1);

        Assert.That(await FakeWeCom.ScalarAsync(_workspace.Database, "SELECT COUNT(*) FROM inbox WHERE lease_owner IS NOT NULL AND state = 'pending'"),
            Is.EqualTo(1), "the running host still holds the callback it is handling");
        Assert.That(FakeWeCom.Calls(_answering, "externalcontact/groupchat/get"), Has.Count.EqualTo(1), "only the marker was handled by the new host");
    }

    private async Task<BotProcess> StartAsync(string weComUrl, Dictionary<string, string?>? settings = null)
    {
        var host = await BotProcess.StartAsync(weComUrl, _workspace.Database, _workspace.Rules, settings);
        _hosts.Add(host);
        return host;
    }

    private static async Task PostAsync(BotProcess host, IEnumerable<string> callbacks)
    {
        using var client = host.CreateClient();
        foreach (var xml in callbacks)
        {
            using var response = await client.SendAsync(BotProcess.SignedPost(xml));
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }
    }

    private static string ChatCreated(string chatId) =>
        $"<xml><ToUserName><![CDATA[{BotApp.CorpId}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>{DateTimeOffset.UtcNow.ToUnixTimeSeconds()}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_chat]]></Event><ChatId><![CDATA[{chatId}]]></ChatId><ChangeType><![CDATA[create]]></ChangeType></xml>";

    /// <summary>A WeCom that accepts connections and never answers, and that closes them all at once when disposed.</summary>
    private sealed class BlackHole : IDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly List<Socket> _accepted = [];
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _accepting;

        public BlackHole()
        {
            _listener.Start();
            Url = $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";
            _accepting = AcceptAsync();
        }

        public string Url { get; }

        public void Dispose()
        {
            _stop.Cancel();
            _listener.Stop();
            lock (_accepted)
            {
                foreach (var socket in _accepted)
                {
                    socket.Dispose();
                }
            }
            try
            {
                _accepting.Wait(TimeSpan.FromSeconds(5));
            }
            catch (AggregateException)
            {
                // The accept loop ends with the listener.
            }
            _stop.Dispose();
        }

        private async Task AcceptAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                Socket socket;
                try
                {
                    socket = await _listener.AcceptSocketAsync(_stop.Token);
                }
                catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
                {
                    return;
                }
                lock (_accepted)
                {
                    _accepted.Add(socket);
                }
            }
        }
    }
}
