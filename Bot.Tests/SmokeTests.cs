using System.Net;
using Bot.Tests.Fixtures;

namespace Bot.Tests;

public sealed class SmokeTests
{
    [Test]
    public async Task Host_answers_liveness_and_readiness_over_http()
    {
        using var app = new BotApp();
        using var client = app.CreateClient();

        Assert.That((await client.GetAsync("/healthz")).StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var ready = await client.GetAsync("/readyz");
        Assert.That(ready.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await ready.Content.ReadAsStringAsync(), Does.Contain("migrated"));
    }

    [Test]
    public async Task A_signed_contact_added_callback_is_acknowledged_with_an_empty_200()
    {
        using var app = new BotApp();
        using var client = app.CreateClient();

        var response = await client.SendAsync(app.SignedPost(BotApp.ContactAdded("wmSmoke01", "CODE-SMOKE")));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await response.Content.ReadAsByteArrayAsync(), Is.Empty);
    }
}
