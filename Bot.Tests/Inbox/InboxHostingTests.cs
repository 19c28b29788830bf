using Bot.Core.Handling;
using Bot.Core.Inbox;
using Bot.Core.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Bot.Tests.Inbox;

public sealed class InboxHostingTests
{
    private string _folder = null!;

    [SetUp]
    public void CreateFolder()
    {
        _folder = Path.Combine(Path.GetTempPath(), "wecombot-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_folder);
    }

    [TearDown]
    public void DeleteFolder()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_folder, recursive: true);
    }

    [Test]
    public async Task AddInbox_wires_a_host_that_stores_a_callback_and_hands_it_to_the_registered_handler()
    {
        var handler = new RecordingHandler();
        using var host = Build(new Dictionary<string, string?>(), services => services.AddSingleton<ICallbackHandler>(handler));
        await host.StartAsync();
        try
        {
            var writer = host.Services.GetRequiredService<InboxWriter>();
            var stored = await writer.AppendAsync(InboxHarness.Entry("hosted"), CancellationToken.None);
            await handler.CalledAsync(1);

            Assert.That(handler.Calls.Single().Item.Id, Is.EqualTo(stored.Id));
        }
        finally
        {
            await host.StopAsync();
        }
    }

    [TestCase("Inbox:BatchSize", "0", "BatchSize")]
    [TestCase("Inbox:MaxAttempts", "0", "MaxAttempts")]
    [TestCase("Inbox:LeaseDuration", "00:00:00", "LeaseDuration")]
    [TestCase("Inbox:RetryBaseDelay", "00:20:00", "RetryBaseDelay")]
    [TestCase("Inbox:InstanceId", "bot/1", "InstanceId")]
    public void An_invalid_inbox_setting_stops_the_host_and_names_the_key(string key, string value, string named)
    {
        using var host = Build(new Dictionary<string, string?> { [key] = value });

        var error = Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.That(error!.Message, Does.Contain(named));
    }

    [Test]
    public void Inbox_defaults_are_the_documented_ones()
    {
        using var host = Build(new Dictionary<string, string?>());

        var options = host.Services.GetRequiredService<IOptions<InboxOptions>>().Value;

        Assert.Multiple(() =>
        {
            Assert.That(options.BatchSize, Is.EqualTo(256));
            Assert.That(options.MaxAttempts, Is.EqualTo(8));
            Assert.That(options.LeaseDuration, Is.EqualTo(TimeSpan.FromSeconds(30)));
            Assert.That(options.PollInterval, Is.EqualTo(TimeSpan.FromSeconds(1)));
            Assert.That(options.RetryBaseDelay, Is.EqualTo(TimeSpan.FromSeconds(2)));
            Assert.That(options.MaxRetryDelay, Is.EqualTo(TimeSpan.FromMinutes(10)));
        });
    }

    private IHost Build(Dictionary<string, string?> settings, Action<IServiceCollection>? configure = null)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        settings["ConnectionStrings:Bot"] = $"Data Source={Path.Combine(_folder, "bot.db")}";
        builder.Configuration.AddInMemoryCollection(settings);
        builder.AddStorage();
        builder.AddInbox();
        configure?.Invoke(builder.Services);
        return builder.Build();
    }
}
