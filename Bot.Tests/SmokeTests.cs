using System.Net;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Bot.Tests;

public sealed class SmokeTests
{
    [Test]
    public async Task Host_answers_liveness_over_http()
    {
        await using var factory = new WebApplicationFactory<Program>();
        using var client = factory.CreateClient();
        var response = await client.GetAsync("/healthz");
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
    }
}
