using System.Globalization;
using Bot.Core.Outbox;
using Bot.Core.Rules;
using Bot.Tests.Contacts;
using Bot.Tests.Fixtures;
using Bot.Host.Cli;
using Microsoft.Extensions.Time.Testing;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;

namespace Bot.Tests.Cli;

[NonParallelizable] // The verb reads its database from the process environment, as in production.
public sealed class ExplainTests
{
    [Test]
    public async Task Explain_lists_what_the_customer_was_sent_or_refused_newest_first_with_rule_and_callback()
    {
        using var app = new BotApp();
        app.WeCom.Given(Request.Create().WithPath("/robot/response/*").UsingPost())
            .RespondWith(Response.Create().WithBodyAsJson(new { errcode = 0, errmsg = "ok" }));
        using var client = app.CreateClient();
        await OptOutTests.PostAsync(app, client, "退订", 1);
        await OptOutTests.WaitForResponseAsync(app, "/robot/response/1");
        await OptOutTests.PostAsync(app, client, "有拿铁吗", 2);
        await OptOutTests.WaitForItemsAsync(app, items => items.Any(i => i.Kind == OutboxKinds.TagChange && i.State == OutboxState.Failed));
        var version = app.Service<RuleSetProvider>().Current.Version;

        var previous = Environment.GetEnvironmentVariable("ConnectionStrings__Bot");
        Environment.SetEnvironmentVariable("ConnectionStrings__Bot", $"Data Source={app.DatabasePath}");
        using var output = new StringWriter(CultureInfo.InvariantCulture);
        int? exit;
        try
        {
            exit = await BotCommands.TryRunAsync(["explain", OptOutTests.Customer], output, TextWriter.Null, new FakeTimeProvider());
        }
        finally
        {
            Environment.SetEnvironmentVariable("ConnectionStrings__Bot", previous);
        }

        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Multiple(() =>
        {
            Assert.That(exit, Is.EqualTo(0));
            Assert.That(lines, Has.Length.EqualTo(2));
            Assert.That(lines[0], Does.Match(
                $@"tag_change +failed +rule coffee-interest \(\S*/community\.yaml:\d+, rules {version}\), callback \d+: customer opted out$"));
            Assert.That(lines[1], Does.Match(@"preference_reply +sent +no rule, callback \d+$"));
        });
    }

    [Test]
    public async Task Explain_shows_a_customers_callbacks_that_are_pending_or_parked_instead_of_nothing_sent()
    {
        var folder = Path.Combine(Path.GetTempPath(), "wecombot-explain-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        var database = Path.Combine(folder, "bot.db");
        var previous = Environment.GetEnvironmentVariable("ConnectionStrings__Bot");
        Environment.SetEnvironmentVariable("ConnectionStrings__Bot", $"Data Source={database}");
        try
        {
            // The first run migrates the empty database.
            var (exit, lines) = await ExplainAsync("wmWAITING01");
            Assert.That(lines, Is.EqualTo(new[] { "wmWAITING01: nothing sent, tagged, planned or entered" }));

            await using (var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={database};Pooling=False"))
            {
                await connection.OpenAsync();
                await using var insert = connection.CreateCommand();
                var at = new DateTimeOffset(2026, 12, 2, 10, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds();
                insert.CommandText = $"""
                    INSERT INTO inbox (dedupe_key, kind, received_at, body, state, attempts, next_attempt_at, last_error) VALUES
                    ('k1', 'change_external_contact/add_external_contact', {at}, '<xml><ExternalUserID>wmWAITING01</ExternalUserID></xml>', 'parked', 8, {at}, 'externalcontact/get: errcode 60111'),
                    ('k2', 'change_external_contact/edit_external_contact', {at + 1000}, '<xml><ExternalUserID>wmWAITING01</ExternalUserID></xml>', 'pending', 1, {at + 60_000}, NULL),
                    ('k3', 'change_external_contact/add_external_contact', {at + 2000}, '<xml><ExternalUserID>wmWAITING01</ExternalUserID></xml>', 'handled', 0, {at}, NULL),
                    ('k4', 'change_external_contact/add_external_contact', {at + 3000}, '<xml><ExternalUserID>wmSOMEONE99</ExternalUserID></xml>', 'parked', 8, {at}, 'other')
                    """;
                await insert.ExecuteNonQueryAsync();
            }

            (exit, lines) = await ExplainAsync("wmWAITING01");

            Assert.Multiple(() =>
            {
                Assert.That(exit, Is.EqualTo(0));
                Assert.That(lines, Has.Length.EqualTo(2), string.Join('\n', lines));
                Assert.That(lines[0], Does.Contain("edit_external_contact").And.Contain("pending").And.Contain("attempt 2 due"));
                Assert.That(lines[1], Does.Contain("add_external_contact").And.Contain("parked").And.Contain("errcode 60111").And.Contain("/admin/inbox/parked"));
            });
        }
        finally
        {
            Environment.SetEnvironmentVariable("ConnectionStrings__Bot", previous);
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(folder, recursive: true);
        }
    }

    private static async Task<(int? Exit, string[] Lines)> ExplainAsync(string customer)
    {
        using var output = new StringWriter(CultureInfo.InvariantCulture);
        var exit = await BotCommands.TryRunAsync(["explain", customer], output, TextWriter.Null, new FakeTimeProvider());
        return (exit, output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }
}
