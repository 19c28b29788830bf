using Bot.Core.Observability;
using System.Diagnostics.Metrics;
using Bot.Core.Rules;
using Bot.Tests.Fixtures;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Bot.Tests.Rules;

/// <summary>Hot reload through the real file watcher in a temporary folder.</summary>
public sealed class RuleSetProviderTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    private const string Reply = "replies:\n  - name: {0}\n    when: {{ keywords: [{1}] }}\n    message: {{ text: ok }}\n";

    private sealed class Harness : IAsyncDisposable
    {
        private readonly ServiceProvider _services;

        public Harness(RuleFolder folder)
        {
            var services = new ServiceCollection();
            services.AddMetrics();
            _services = services.BuildServiceProvider();
            Meters = _services.GetRequiredService<IMeterFactory>();
            Provider = new RuleSetProvider(
                Options.Create(new RulesOptions { Path = folder.Path, ReloadDebounce = TimeSpan.FromMilliseconds(50) }),
                new Environment(), TimeProvider.System, new BotMetrics(Meters), NullLogger<RuleSetProvider>.Instance);
        }

        public IMeterFactory Meters { get; }

        public RuleSetProvider Provider { get; }

        public Task<RuleSetChangedEventArgs> NextChange()
        {
            var tcs = new TaskCompletionSource<RuleSetChangedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
            Provider.Changed += (_, e) => tcs.TrySetResult(e);
            return tcs.Task.WaitAsync(Deadline);
        }

        public Task<RuleSetRejectedEventArgs> NextRejection()
        {
            var tcs = new TaskCompletionSource<RuleSetRejectedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
            Provider.Rejected += (_, e) => tcs.TrySetResult(e);
            return tcs.Task.WaitAsync(Deadline);
        }

        public async ValueTask DisposeAsync()
        {
            await Provider.StopAsync(CancellationToken.None);
            Provider.Dispose();
            await _services.DisposeAsync();
        }
    }

    private sealed class Environment : IHostEnvironment
    {
        public string EnvironmentName { get; set; } = "Test";
        public string ApplicationName { get; set; } = "Bot.Tests";
        public string ContentRootPath { get; set; } = Path.GetTempPath();
        public Microsoft.Extensions.FileProviders.IFileProvider ContentRootFileProvider { get; set; } = null!;
    }

    [Test]
    public async Task A_valid_edit_is_live_within_seconds_as_a_new_version()
    {
        using var folder = new RuleFolder().Write("r.yaml", string.Format(Reply, "a", "hello"));
        await using var harness = new Harness(folder);
        using var reloads = new MetricCollector<long>(harness.Meters, "WeComBot", BotMetrics.RuleReloads);
        await harness.Provider.StartAsync(CancellationToken.None);
        var before = harness.Provider.Current;

        var changed = harness.NextChange();
        folder.Write("r.yaml", string.Format(Reply, "b", "bye"));
        var e = await changed;

        Assert.That(e.Previous, Is.SameAs(before));
        Assert.That(harness.Provider.Current, Is.SameAs(e.Current));
        Assert.That(e.Current.Version, Is.Not.EqualTo(before.Version));
        Assert.That(e.Current.Replies.Single().Source.Name, Is.EqualTo("b"));
        Assert.That(harness.Provider.Status.Version, Is.EqualTo(e.Current.Version));
        Assert.That(reloads.GetMeasurementSnapshot().Any(m => m.Tags["outcome"] is "applied"), Is.True);
    }

    [Test]
    public async Task An_invalid_edit_is_refused_and_the_last_good_set_stays_live()
    {
        using var folder = new RuleFolder().Write("r.yaml", string.Format(Reply, "a", "hello"));
        await using var harness = new Harness(folder);
        using var reloads = new MetricCollector<long>(harness.Meters, "WeComBot", BotMetrics.RuleReloads);
        await harness.Provider.StartAsync(CancellationToken.None);
        var good = harness.Provider.Current;

        var rejected = harness.NextRejection();
        folder.Write("r.yaml", "replies:\n  - name: a\n    when: { keywords: [] }\n    message: { text: ok }\n");
        var e = await rejected;

        Assert.That(harness.Provider.Current, Is.SameAs(good));
        var status = harness.Provider.Status;
        Assert.That(status.Version, Is.EqualTo(good.Version));
        Assert.That(status.RejectedReloads, Is.GreaterThanOrEqualTo(1));
        Assert.That(status.LastError, Does.Contain("r.yaml:3:23: empty keyword list"));
        Assert.That(status.LastErrorAt, Is.Not.Null);
        Assert.That(e.Errors.Single().Line, Is.EqualTo(3));
        Assert.That(reloads.GetMeasurementSnapshot().Any(m => m.Tags["outcome"] is "rejected"), Is.True);
    }

    [Test]
    public async Task Deleting_a_file_removes_its_rules()
    {
        using var folder = new RuleFolder()
            .Write("a.yaml", string.Format(Reply, "a", "hello"))
            .Write("b.yaml", string.Format(Reply, "b", "bye"));
        await using var harness = new Harness(folder);
        await harness.Provider.StartAsync(CancellationToken.None);
        Assert.That(harness.Provider.Current.Replies, Has.Count.EqualTo(2));

        var changed = harness.NextChange();
        File.Delete(folder.File("b.yaml"));
        var e = await changed;

        Assert.That(e.Current.Replies.Select(r => r.Source.Name), Is.EqualTo(new[] { "a" }));
    }

    [Test]
    public async Task Renaming_a_file_away_from_yaml_removes_its_rules()
    {
        using var folder = new RuleFolder()
            .Write("a.yaml", string.Format(Reply, "a", "hello"))
            .Write("b.yaml", string.Format(Reply, "b", "bye"));
        await using var harness = new Harness(folder);
        await harness.Provider.StartAsync(CancellationToken.None);

        var changed = harness.NextChange();
        File.Move(folder.File("b.yaml"), folder.File("b.yaml.off"));
        var e = await changed;

        Assert.That(e.Current.Replies.Select(r => r.Source.Name), Is.EqualTo(new[] { "a" }));
    }

    [Test]
    public async Task A_failed_first_load_refuses_to_start_and_names_every_error()
    {
        using var folder = new RuleFolder()
            .Write("a.yaml", "welcome:\n  - name: a\n    message: { text: \"{{x}}\" }\n")
            .Write("b.yaml", "tagging:\n  - name: b\n    when: { keywords: [k] }\n    tags: [notag]\n");
        await using var harness = new Harness(folder);

        var ex = Assert.ThrowsAsync<RuleLoadException>(() => harness.Provider.StartAsync(CancellationToken.None));

        Assert.That(ex!.Errors, Has.Count.EqualTo(2));
        Assert.That(ex.Message, Does.Contain("a.yaml:3:23: unknown template variable {{x}}"));
        Assert.That(ex.Message, Does.Contain("b.yaml:4:12: tag \"notag\" needs its tag group"));
        Assert.Throws<InvalidOperationException>(() => _ = harness.Provider.Current);
    }

    [Test]
    public async Task The_host_refuses_to_start_with_bad_rules_and_starts_with_the_examples()
    {
        using var bad = new RuleFolder().Write("a.yaml", "welcome:\n  - name: a\n");

        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Configuration["Rules:Path"] = bad.Path;
        builder.AddRules();
        using var badHost = builder.Build();
        Assert.ThrowsAsync<RuleLoadException>(() => badHost.StartAsync());

        var good = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        good.Configuration["Rules:Path"] = SharedFiles.Path("examples", "rules");
        good.AddRules();
        using var goodHost = good.Build();
        await goodHost.StartAsync();
        Assert.That(goodHost.Services.GetRequiredService<RuleSetProvider>().Current.RuleCount, Is.EqualTo(9));
        // The registered planner plans with the host's rules and time zone: 10:00 Shanghai for a store-sh state
        // matches the first example welcome, which only a correctly configured planner picks.
        var planned = goodHost.Services.GetRequiredService<RulePlanner>().PlanContactAdded(
            goodHost.Services.GetRequiredService<RuleSetProvider>().Current,
            new ContactAddedInput("guide01", "wmCustomer", "store-sh-01", "CODE", "王小姐", "小李", new DateTimeOffset(2026, 12, 2, 2, 0, 0, TimeSpan.Zero)));
        Assert.That(planned.OfType<SendWelcome>().Single().Rule.Name, Is.EqualTo("shanghai-stores"));
        await goodHost.StopAsync();
    }

    [TestCase("TimeZone", "Mars/Olympus")]
    [TestCase("TimeZone", "")]
    [TestCase("Path", "")]
    [TestCase("ReloadDebounce", "00:10:00")]
    [TestCase("MaxFileBytes", "0")]
    [TestCase("MaxFolderBytes", "0")]
    [TestCase("MaxRules", "0")]
    [TestCase("MaxReplyTextBytes", "0")]
    public void A_bad_rules_option_fails_start_up_naming_the_key(string key, string value)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Configuration["Rules:Path"] = SharedFiles.Path("examples", "rules");
        builder.Configuration["Rules:" + key] = value;
        builder.AddRules();
        using var host = builder.Build();

        var ex = Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.That(ex!.Message, Does.Contain(key));
    }
}
