using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Bot.Tests.EndToEnd;
using Bot.Tests.Fixtures;
using Microsoft.Data.Sqlite;

namespace Bot.Tests.ScaleOut;

/// <summary>
/// /readyz decides whether a replica gets WeCom's callbacks. It leaves rotation only for what stops acknowledging
/// (the database cannot be written); a Redis outage, which only pauses quota-limited sends, keeps it serving. Every
/// answer comes well inside the Kubernetes probe's 2 s timeout.
/// </summary>
[NonParallelizable]
public sealed class ReadinessTests
{
    // Half the readiness probe's timeout in deploy/k8s/deployment.yaml: an answer slower than this is one load spike
    // away from the probe giving up.
    private static readonly TimeSpan WellInsideProbeTimeout = TimeSpan.FromSeconds(1);

    [Test]
    [CancelAfter(60_000)]
    public async Task With_Redis_killed_readiness_stays_200_degraded_callbacks_are_acknowledged_and_it_is_healthy_again_once_Redis_returns(CancellationToken ct)
    {
        using var redis = RedisTestServer.StartPrivate();
        using var app = RedisApp(redis);
        using var client = app.CreateClient();
        await UntilAsync(client, r => r.Status == "Healthy", "healthy with Redis up", ct);

        redis.Stop();
        var down = await UntilAsync(client, r => r.Checks["redis"] != "Healthy", "Redis seen down", ct);
        using var callback = await client.SendAsync(app.SignedPost(BotApp.ContactAdded("wmRedisDown", "CODE-REDIS-DOWN")), ct);
        var stillDown = await ReadyAsync(client, ct);

        Assert.Multiple(async () =>
        {
            Assert.That(down.Code, Is.EqualTo(HttpStatusCode.OK), down.Body);
            Assert.That(down.Status, Is.EqualTo("Degraded"), down.Body);
            Assert.That(stillDown.Code, Is.EqualTo(HttpStatusCode.OK), stillDown.Body);
            Assert.That(stillDown.Checks.Values, Has.None.EqualTo("Unhealthy"), stillDown.Body);
            Assert.That(stillDown.Elapsed, Is.LessThan(WellInsideProbeTimeout), stillDown.Body);
            Assert.That(callback.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(await FakeWeCom.ScalarAsync(app.DatabasePath, "SELECT COUNT(*) FROM inbox"), Is.EqualTo(1), "the callback was stored");
        });

        redis.Start();
        var back = await UntilAsync(client, r => r.Status == "Healthy", "healthy once Redis is back", ct);
        Assert.That(back.Code, Is.EqualTo(HttpStatusCode.OK));
    }

    [Test]
    [CancelAfter(60_000)]
    public async Task With_Redis_hanging_every_readiness_answer_comes_well_inside_the_probe_timeout_and_says_degraded(CancellationToken ct)
    {
        using var redis = RedisTestServer.StartPrivate();
        using var app = RedisApp(redis);
        using var client = app.CreateClient();
        await UntilAsync(client, r => r.Status == "Healthy", "healthy with Redis up", ct);

        // Suspended rather than killed: the connection stays open and the ping is never answered.
        redis.Freeze();
        try
        {
            var answers = new List<Readiness>();
            for (var i = 0; i < 3; i++)
            {
                answers.Add(await ReadyAsync(client, ct));
            }

            Assert.Multiple(() =>
            {
                foreach (var answer in answers)
                {
                    Assert.That(answer.Elapsed, Is.LessThan(WellInsideProbeTimeout), answer.Body);
                    Assert.That(answer.Code, Is.EqualTo(HttpStatusCode.OK), answer.Body);
                    Assert.That(answer.Checks["redis"], Is.EqualTo("Degraded"), answer.Body);
                }
            });
        }
        finally
        {
            redis.Thaw();
        }
        await UntilAsync(client, r => r.Status == "Healthy", "healthy once Redis answers again", ct);
    }

    [Test]
    [CancelAfter(60_000)]
    public async Task While_the_database_cannot_be_written_readiness_answers_503_within_the_probe_timeout_and_200_once_it_can(CancellationToken ct)
    {
        using var app = new BotApp();
        using var client = app.CreateClient();
        await UntilAsync(client, r => r.Status == "Healthy", "healthy", ct);

        Readiness locked;
        // Another process holding SQLite's write lock: reads still work, no callback could be stored.
        await using (var other = new SqliteConnection($"Data Source={app.DatabasePath};Pooling=False"))
        {
            await other.OpenAsync(ct);
            await using var begin = other.CreateCommand();
            begin.CommandText = "BEGIN EXCLUSIVE";
            await begin.ExecuteNonQueryAsync(ct);
            locked = await ReadyAsync(client, ct);
            await using var rollback = other.CreateCommand();
            rollback.CommandText = "ROLLBACK";
            await rollback.ExecuteNonQueryAsync(ct);
        }

        Assert.Multiple(() =>
        {
            Assert.That(locked.Code, Is.EqualTo(HttpStatusCode.ServiceUnavailable), locked.Body);
            Assert.That(locked.Checks["database"], Is.EqualTo("Unhealthy"), locked.Body);
            Assert.That(locked.Elapsed, Is.LessThan(WellInsideProbeTimeout), locked.Body);
        });
        var back = await UntilAsync(client, r => r.Status == "Healthy", "healthy once the lock is gone", ct);
        Assert.That(back.Code, Is.EqualTo(HttpStatusCode.OK));
    }

    [Test]
    [CancelAfter(60_000)]
    public async Task While_WeCom_refuses_the_apps_configuration_readiness_stays_200_degraded(CancellationToken ct)
    {
        using var app = new BotApp();
        app.WeCom.Given(WireMock.RequestBuilders.Request.Create().WithPath("/cgi-bin/externalcontact/get").UsingGet())
            .RespondWith(WireMock.ResponseBuilders.Response.Create().WithBodyAsJson(new { errcode = 48002, errmsg = "api forbidden" }));
        using var client = app.CreateClient();

        using var callback = await client.SendAsync(app.SignedPost(BotApp.ContactAdded("wmForbidden", "CODE-FORBIDDEN")), ct);
        var refused = await UntilAsync(client, r => r.Checks["wecom-api"] != "Healthy", "the refusal seen", ct);

        Assert.That(callback.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That((refused.Code, refused.Status), Is.EqualTo((HttpStatusCode.OK, "Degraded")), refused.Body);
    }

    [TestCase("00:00:00")]
    [TestCase("00:00:02")]
    public void A_check_timeout_outside_its_range_stops_the_host_and_names_the_key(string value)
    {
        using var app = new BotApp(settings: new Dictionary<string, string?> { ["Health:CheckTimeout"] = value });

        var error = Assert.Catch(() => app.CreateClient());

        Assert.That(error!.ToString(), Does.Contain("CheckTimeout"));
    }

    private static BotApp RedisApp(RedisTestServer redis) => new(settings: new Dictionary<string, string?>
    {
        ["Redis:Configuration"] = redis.Configuration,
        ["Redis:KeyPrefix"] = RedisTestServer.NewPrefix(),
    });

    private sealed record Readiness(HttpStatusCode Code, string Status, IReadOnlyDictionary<string, string> Checks, TimeSpan Elapsed, string Body);

    private static async Task<Readiness> ReadyAsync(HttpClient client, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        using var response = await client.GetAsync("/readyz", ct);
        var body = await response.Content.ReadAsStringAsync(ct);
        var elapsed = clock.Elapsed;
        var root = JsonDocument.Parse(body).RootElement;
        var checks = root.GetProperty("checks").EnumerateObject()
            .ToDictionary(c => c.Name, c => c.Value.GetProperty("status").GetString()!);
        return new Readiness(response.StatusCode, root.GetProperty("status").GetString()!, checks, elapsed, $"{(int)response.StatusCode} in {elapsed.TotalMilliseconds:0} ms: {body}");
    }

    // Polls: what is awaited is the host noticing a server it does not own, so there is nothing to signal on.
    private static async Task<Readiness> UntilAsync(HttpClient client, Func<Readiness, bool> done, string what, CancellationToken ct)
    {
        return await Eventually.UntilAsync(() => ReadyAsync(client, ct), done,
            readiness => $"readiness {what}; last answer {readiness.Body}", TimeSpan.FromSeconds(20), ct);
    }
}
