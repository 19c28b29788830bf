using System.Text.Json;
using Bot.Core.Rules;
using Bot.Tests.Fixtures;

namespace Bot.Tests.Rules;

/// <summary>The rule-file limits on a hot reload, seen through the admin API: refused, reported, last good set live.</summary>
public sealed class RuleFileLimitsReloadTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    [Test]
    public async Task A_link_out_of_the_folder_is_refused_on_reload_and_admin_rules_names_it_without_its_content()
    {
        using var app = new BotApp();
        using var client = app.CreateAdminClient();
        using var good = await RulesAsync(client);
        var secret = Path.Combine(app.Directory, "secret.txt");
        File.WriteAllText(secret, "hunter2-SECRET\n");
        var link = Path.Combine(app.RulesPath, "extra.yaml");

        var rejected = NextRejection(app);
        File.CreateSymbolicLink(link, secret);
        await rejected;

        using var after = await RulesAsync(client);
        var root = after.RootElement;
        Assert.Multiple(() =>
        {
            Assert.That(root.GetProperty("version").GetString(), Is.EqualTo(good.RootElement.GetProperty("version").GetString()));
            Assert.That(root.GetProperty("rejectedReloads").GetInt32(), Is.GreaterThanOrEqualTo(1));
            Assert.That(root.GetProperty("errors").EnumerateArray().Select(e => e.GetString()),
                Is.EqualTo(new[] { $"{link}:1:1: the file links outside the rules folder; rule files are read only from inside it" }));
            Assert.That(root.GetRawText(), Does.Not.Contain("hunter2"));
        });
    }

    [Test]
    public async Task An_oversized_rule_file_is_refused_on_reload_and_the_last_good_set_stays_live()
    {
        using var app = new BotApp();
        using var client = app.CreateAdminClient();
        using var good = await RulesAsync(client);
        var file = Path.Combine(app.RulesPath, "huge.yaml");

        var rejected = NextRejection(app);
        using (var stream = File.Create(file))
        {
            stream.SetLength(50L << 20); // sparse: 50 MiB on paper, no disk used
        }
        await rejected;

        using var after = await RulesAsync(client);
        var root = after.RootElement;
        Assert.Multiple(() =>
        {
            Assert.That(root.GetProperty("version").GetString(), Is.EqualTo(good.RootElement.GetProperty("version").GetString()));
            Assert.That(root.GetProperty("errors").EnumerateArray().Select(e => e.GetString()),
                Is.EqualTo(new[] { $"{file}:1:1: the file is 52,428,800 bytes; a rule file may have at most 4,194,304 (Rules:MaxFileBytes)" }));
        });
    }

    private static async Task<JsonDocument> RulesAsync(HttpClient client) => JsonDocument.Parse(await client.GetStringAsync("/admin/rules"));

    /// <summary>Completes when the running host refuses its next reload (the admin API then shows that reload).</summary>
    private static Task NextRejection(BotApp app)
    {
        var rejected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        app.Service<RuleSetProvider>().Rejected += (_, _) => rejected.TrySetResult();
        return rejected.Task.WaitAsync(Deadline);
    }
}
