using Bot.Core.WeCom.Callbacks;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Bot.Tests.WeCom.Callbacks;

public sealed class WeComCallbacksServiceCollectionExtensionsTests
{
    private static readonly Dictionary<string, string?> Complete = new()
    {
        ["WeCom:CorpId"] = "wx5823bf96d3bd56c7",
        ["WeCom:AgentId"] = "1000002",
        ["WeCom:Secret"] = "secret",
        ["WeCom:Token"] = "QDG6eK",
        ["WeCom:EncodingAesKey"] = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
    };

    private static IHost Build(Dictionary<string, string?> settings)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(settings);
        builder.AddWeComCallbacks();
        return builder.Build();
    }

    [Test]
    public async Task A_complete_configuration_starts_and_provides_one_verifier()
    {
        using var host = Build(Complete);
        await host.StartAsync();
        var verifier = host.Services.GetRequiredService<CallbackVerifier>();
        Assert.That(host.Services.GetRequiredService<CallbackVerifier>(), Is.SameAs(verifier));
        Assert.That(verifier.VerifyUrl(null, null, null, "x").Rejection, Is.EqualTo(CallbackRejection.MissingSignature));
        await host.StopAsync();
    }

    [TestCase("WeCom:Token")]
    [TestCase("WeCom:EncodingAesKey")]
    [TestCase("WeCom:CorpId")]
    public void A_missing_secret_stops_start_up_and_names_the_key(string key)
    {
        var settings = new Dictionary<string, string?>(Complete) { [key] = "" };
        using var host = Build(settings);
        var ex = Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.That(ex!.Message, Does.Contain(key.Split(':')[1]));
    }

    [Test]
    public void A_key_that_does_not_decode_to_32_bytes_stops_start_up()
    {
        var settings = new Dictionary<string, string?>(Complete) { ["WeCom:EncodingAesKey"] = new string('!', 43) };
        using var host = Build(settings);
        var ex = Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.That(ex!.Message, Does.Contain("EncodingAesKey"));
    }
}
