using Bot.Tests.EndToEnd;
using Bot.Core.Handling;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Bot.Core.Inbox;
using Bot.Core.Rules;
using Bot.Tests.Fixtures;
using Microsoft.Extensions.DependencyInjection;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;

namespace Bot.Tests.Admin;

/// <summary>What an operator does through /admin, over HTTP against the real host.</summary>
public sealed class AdminEndpointTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    [Test]
    public async Task Rules_shows_the_loaded_version_and_a_summary_of_the_rule_set()
    {
        using var app = new BotApp();
        using var client = app.CreateAdminClient();

        using var body = JsonDocument.Parse(await client.GetStringAsync("/admin/rules"));

        var root = body.RootElement;
        Assert.That(root.GetProperty("version").GetString(), Is.Not.Empty.And.EqualTo(app.Service<RuleSetProvider>().Status.Version));
        Assert.That(root.GetProperty("summary").GetString(), Does.Contain("1 lotteries").And.Contain("1 seeding"));
        Assert.That(root.GetProperty("lastError").ValueKind, Is.EqualTo(JsonValueKind.Null));
    }

    [Test]
    public async Task A_parked_callback_is_listed_and_replayed_until_it_is_handled()
    {
        var handler = new SwitchableHandler();
        using var bot = new BotApp(settings: new Dictionary<string, string?> { ["Inbox:MaxAttempts"] = "1" });
        using var app = bot.WithWebHostBuilder(b => b.ConfigureServices(s => s.AddSingleton<ICallbackHandler>(handler)));
        using var client = app.CreateClient();
        client.DefaultRequestHeaders.Add("X-Admin-Key", BotApp.AdminKey);

        var callback = await client.SendAsync(bot.SignedPost(BotApp.ContactAdded("wmParked01", "CODE-PARKED")));
        Assert.That(callback.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var parked = await PollAsync(
            async () => (await client.GetFromJsonAsync<List<ParkedItem>>("/admin/inbox/parked"))!, list => list.Count == 1);
        Assert.That(parked[0].LastError, Does.Contain("handler refused"));

        handler.Fail = false;
        var replay = await client.PostAsync($"/admin/inbox/{parked[0].Id}/replay", null);

        Assert.That(replay.StatusCode, Is.EqualTo(HttpStatusCode.NoContent));
        Assert.That(await handler.Succeeded.Task.WaitAsync(Deadline), Is.EqualTo(parked[0].Id));
        var record = await PollAsync(
            () => app.Services.GetRequiredService<InboxStore>().GetAsync(parked[0].Id, CancellationToken.None), r => r?.State == InboxState.Handled);
        Assert.That(record!.State, Is.EqualTo(InboxState.Handled));
        Assert.That(await client.GetFromJsonAsync<List<ParkedItem>>("/admin/inbox/parked"), Is.Empty);
        // Replaying what is no longer parked is refused rather than run twice.
        Assert.That((await client.PostAsync($"/admin/inbox/{parked[0].Id}/replay", null)).StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
    }

    [Test]
    public async Task A_broadcast_is_created_listed_and_its_progress_reaches_sent_for_every_group()
    {
        using var app = new BotApp();
        app.WeCom.Given(Request.Create().WithPath("/cgi-bin/externalcontact/add_msg_template").UsingPost())
            .RespondWith(Response.Create().WithBodyAsJson(new { errcode = 0, errmsg = "ok", msgid = "msgBROADCAST", fail_list = Array.Empty<string>() }));
        // The bot reads each group's owner (groupchat/get) before its task: WeCom gives it only to the owner.
        FakeWeCom.StubGroupOwners(app.WeCom);
        using var client = app.CreateAdminClient();

        var created = await client.PostAsJsonAsync("/admin/broadcasts", new
        {
            name = "autumn-menu",
            text = "秋季新品上市",
            targetKind = 0, // Groups
            sender = "guide01",
            targets = new[] { "wrChatAutumnA", "wrChatAutumnB" },
        });

        Assert.That(created.StatusCode, Is.EqualTo(HttpStatusCode.Created));
        using var summary = JsonDocument.Parse(await created.Content.ReadAsStringAsync());
        var id = summary.RootElement.GetProperty("id").GetInt64();
        Assert.That(summary.RootElement.GetProperty("total").GetInt32(), Is.EqualTo(2));
        Assert.That(created.Headers.Location?.OriginalString, Is.EqualTo($"/admin/broadcasts/{id}"));

        using var list = JsonDocument.Parse(await client.GetStringAsync("/admin/broadcasts"));
        Assert.That(list.RootElement.EnumerateArray().Select(b => b.GetProperty("name").GetString()), Does.Contain("autumn-menu"));

        var progress = await PollAsync(
            async () => JsonDocument.Parse(await client.GetStringAsync($"/admin/broadcasts/{id}")),
            p => p.RootElement.GetProperty("remaining").GetInt32() == 0);
        using (progress)
        {
            Assert.That(progress.RootElement.GetProperty("byState").GetProperty("Sent").GetInt32(), Is.EqualTo(2));
            Assert.That(progress.RootElement.GetProperty("finishedAt").ValueKind, Is.EqualTo(JsonValueKind.String));
        }
        // Both groups are guide01's: one task carries them, as WeCom takes up to 2,000 chat ids in one.
        var tasks = app.WeCom.LogEntries
            .Where(e => e.RequestMessage?.Path == "/cgi-bin/externalcontact/add_msg_template")
            .Select(e => JsonDocument.Parse(e.RequestMessage!.Body!).RootElement)
            .ToList();
        Assert.That(tasks, Has.Count.EqualTo(1));
        Assert.That(tasks[0].GetProperty("chat_id_list").EnumerateArray().Select(c => c.GetString()),
            Is.EquivalentTo(new[] { "wrChatAutumnA", "wrChatAutumnB" }));
        Assert.That(tasks[0].GetProperty("sender").GetString(), Is.EqualTo("guide01"));
    }

    [Test]
    public async Task A_broadcast_without_targets_is_refused_with_a_validation_problem()
    {
        using var app = new BotApp();
        using var client = app.CreateAdminClient();

        var response = await client.PostAsJsonAsync("/admin/broadcasts", new
        {
            name = "empty",
            text = "nobody",
            targetKind = 0,
            sender = "guide01",
            targets = Array.Empty<string>(),
        });

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That(await response.Content.ReadAsStringAsync(), Does.Contain("Targets"));
        Assert.That((await client.GetFromJsonAsync<List<JsonElement>>("/admin/broadcasts"))!, Is.Empty);
    }

    [Test]
    public async Task An_open_lottery_enters_an_eligible_customer_once_and_says_so_on_a_repeat()
    {
        using var app = new BotApp(editRules: OpenWeekendCoffeeNow);
        using var client = app.CreateAdminClient();
        var entry = new { externalUserId = "wmLottery01", tags = new[] { "生命周期/新客" } };

        var first = await client.PostAsJsonAsync("/admin/lotteries/weekend-coffee/entries", entry);
        var repeat = await client.PostAsJsonAsync("/admin/lotteries/weekend-coffee/entries", entry);
        var ineligible = await client.PostAsJsonAsync("/admin/lotteries/weekend-coffee/entries", new { externalUserId = "wmLottery02", tags = new[] { "其他/标签" } });
        var unknown = await client.PostAsJsonAsync("/admin/lotteries/no-such-lottery/entries", entry);

        Assert.That((await first.Content.ReadFromJsonAsync<EntryResponse>())!.Outcome, Is.EqualTo("Entered"));
        Assert.That((await repeat.Content.ReadFromJsonAsync<EntryResponse>())!.Outcome, Is.EqualTo("AlreadyEntered"));
        Assert.That((await ineligible.Content.ReadFromJsonAsync<EntryResponse>())!.Outcome, Is.EqualTo("NotEligible"));
        Assert.That(unknown.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        using var audit = JsonDocument.Parse(await client.GetStringAsync("/lottery/weekend-coffee/audit"));
        Assert.That(audit.RootElement.GetProperty("entryCount").GetInt32(), Is.EqualTo(1));
        Assert.That(audit.RootElement.GetProperty("commitment").GetString(), Is.Not.Empty);
    }

    /// <summary>Moves the sample lottery so it opened an hour ago and draws tomorrow.</summary>
    internal static void OpenWeekendCoffeeNow(string rulesPath)
    {
        var file = Path.Combine(rulesPath, "campaigns.yaml");
        var china = TimeSpan.FromHours(8);
        string At(TimeSpan fromNow) => DateTimeOffset.UtcNow.Add(fromNow).ToOffset(china).ToString("yyyy-MM-dd'T'HH:mm:sszzz", CultureInfo.InvariantCulture);
        var yaml = File.ReadAllText(file)
            .Replace("opens: \"2026-11-28T10:00:00+08:00\"", $"opens: \"{At(TimeSpan.FromHours(-1))}\"", StringComparison.Ordinal)
            .Replace("draws: \"2026-11-28T20:00:00+08:00\"", $"draws: \"{At(TimeSpan.FromDays(1))}\"", StringComparison.Ordinal);
        Assert.That(yaml, Does.Not.Contain("2026-11-28T"), "the sample lottery's times were found and replaced");
        File.WriteAllText(file, yaml);
    }

    private static async Task<T> PollAsync<T>(Func<Task<T>> read, Func<T, bool> done)
    {
        // State that background workers reach in their own time.
        return await Eventually.UntilAsync(read, done, value => $"last value: {JsonSerializer.Serialize(value)}", Deadline);
    }

    private sealed record ParkedItem(long Id, string Kind, int Attempts, string? LastError);

    private sealed record EntryResponse(string Outcome);

    /// <summary>An extra inbox handler that fails until told otherwise, so an item gets parked.</summary>
    private sealed class SwitchableHandler : ICallbackHandler
    {
        public volatile bool Fail = true;

        public TaskCompletionSource<long> Succeeded { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task HandleAsync(PreparedCallback callback, CancellationToken ct)
        {
            if (Fail)
            {
                throw new InvalidOperationException("handler refused (test)");
            }
            Succeeded.TrySetResult(callback.Item.Id);
            return Task.CompletedTask;
        }
    }
}
