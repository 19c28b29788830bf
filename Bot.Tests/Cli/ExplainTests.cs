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
}
