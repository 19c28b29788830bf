using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Bot.Core.Campaigns.Lottery;
using Bot.Tests.EndToEnd;
using Bot.Tests.Fixtures;

namespace Bot.Tests.Lottery;

/// <summary>The draw in the running host, on the real clock, as the public audit endpoint shows it.</summary>
public sealed class LotteryHostTests
{
    [Test]
    public async Task With_an_hour_long_poll_interval_the_host_draws_within_two_seconds_of_the_draw_time()
    {
        // Whole seconds, as a rule file writes them, and far enough ahead that the host is up before then.
        var now = DateTimeOffset.UtcNow;
        var draws = new DateTimeOffset(now.Ticks - now.Ticks % TimeSpan.TicksPerSecond, TimeSpan.Zero).AddSeconds(4);
        using var app = new BotApp(
            editRules: path =>
            {
                var file = Path.Combine(path, "campaigns.yaml");
                var yaml = File.ReadAllText(file)
                    .Replace("opens: \"2026-11-28T10:00:00+08:00\"", $"opens: \"{At(now.AddHours(-1))}\"", StringComparison.Ordinal)
                    .Replace("draws: \"2026-11-28T20:00:00+08:00\"", $"draws: \"{At(draws)}\"", StringComparison.Ordinal);
                Assert.That(yaml, Does.Not.Contain("2026-11-28T"), "the sample lottery's times were found and replaced");
                File.WriteAllText(file, yaml);
            },
            settings: new Dictionary<string, string?> { ["Lottery:PollInterval"] = "01:00:00" });
        using var client = app.CreateAdminClient();
        var entry = await client.PostAsJsonAsync("/admin/lotteries/weekend-coffee/entries", new { externalUserId = "wmOnTime01", tags = new[] { "生命周期/新客" } });
        entry.EnsureSuccessStatusCode();

        await FakeWeCom.WaitForDatabaseAsync(app.DatabasePath, "SELECT COUNT(*) FROM lottery WHERE name = 'weekend-coffee' AND state = 'drawn'",
            n => n == 1, timeout: draws - DateTimeOffset.UtcNow + TimeSpan.FromSeconds(10));
        var audit = await client.GetFromJsonAsync<LotteryAudit>("/lottery/weekend-coffee/audit", JsonSerializerOptions.Web);

        Assert.That(audit!.State, Is.EqualTo("drawn"));
        Assert.That(audit.DrawnAt, Is.GreaterThanOrEqualTo(draws).And.LessThan(draws.AddSeconds(2)));
        Assert.That(audit.Late, Is.False);
        Assert.That(audit.Winners!.Select(w => w.ExternalUserId), Is.EqualTo(new[] { "wmOnTime01" }));
    }

    private static string At(DateTimeOffset at) =>
        at.ToOffset(TimeSpan.FromHours(8)).ToString("yyyy-MM-dd'T'HH:mm:sszzz", CultureInfo.InvariantCulture);
}
