using Bot.Host.Cli;

namespace Bot.Tests.Cli;

/// <summary>The command line as an operator meets it: help everywhere, usage errors as exit 2, the bot started only on purpose.</summary>
public sealed class CommandLineTests
{
    [TestCase("rules", "check", "--help")]
    [TestCase("rules", "simulate", "--help")]
    [TestCase("healthcheck", "--help")]
    [TestCase("sample-callback", "--help")]
    [TestCase("preflight", "--help")]
    [TestCase("lottery", "verify", "-h")]
    [TestCase("--help")]
    public async Task Every_verb_answers_help_with_its_usage_and_exit_0(params string[] args)
    {
        var (exit, output, error) = await RunAsync(args);

        Assert.Multiple(() =>
        {
            Assert.That(exit, Is.Zero, error);
            Assert.That(output, Does.Contain("Usage:"));
            Assert.That(output, Does.Not.Contain("msg_signature="), "sample-callback --help prints help, not a signed request aimed at '--help'");
            Assert.That(error, Is.Empty);
        });
    }

    [Test]
    public async Task A_mistyped_verb_is_a_usage_error_with_a_suggestion_and_never_starts_the_bot()
    {
        var (exit, _, error) = await RunAsync("rule", "check", "rules/");

        Assert.Multiple(() =>
        {
            Assert.That(exit, Is.EqualTo(BotCommands.UsageError), "null would mean the web host starts: migrations run, lotteries open");
            Assert.That(error, Does.Contain("rule"));
            Assert.That(error, Does.Contain("rules"), "the nearest verb is suggested");
        });
    }

    [TestCase("rules", "check")]
    [TestCase("rules", "check", "rules/", "--bogus")]
    [TestCase("rules", "simulate", "rules/")]
    [TestCase("preflight", "--lottery", "weekend-coffee", "--seeding", "vip-warm-up")]
    [TestCase("preflight", "--groups", "wrA", "--customers", "wmA")]
    [TestCase("explain")]
    public async Task A_missing_or_unknown_argument_is_a_usage_error(params string[] args)
    {
        var (exit, _, error) = await RunAsync(args);

        Assert.That(exit, Is.EqualTo(BotCommands.UsageError), error);
        Assert.That(error, Is.Not.Empty);
    }

    [TestCase]
    [TestCase("--urls", "http://127.0.0.1:5099")]
    [TestCase("serve")]
    [TestCase("serve", "--urls", "http://127.0.0.1:5099")]
    public async Task No_verb_or_serve_starts_the_web_host_with_the_host_options(params string[] args)
    {
        var (exit, _, _) = await RunAsync(args);

        Assert.Multiple(() =>
        {
            Assert.That(exit, Is.Null);
            Assert.That(BotCommands.HostArguments(args), Is.EqualTo(args.SkipWhile(a => a == "serve").ToArray()));
        });
    }

    [Test]
    public async Task Simulate_takes_the_moment_of_the_callback_from_at()
    {
        var folder = Path.Combine(Path.GetTempPath(), "wecombot-cli-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        try
        {
            var eventFile = Path.Combine(folder, "event.json");
            File.WriteAllText(eventFile, """{"msgid":"m1","aibotid":"bot01","chattype":"single","from":{"userid":"wmCUSTOMER01"},"response_url":"https://example.invalid/r","msgtype":"text","text":{"content":"营业时间"}}""");

            var (exit, output, error) = await RunAsync("rules", "simulate", Fixtures.RepoFiles.Path("rules"), "--event", eventFile, "--at", "2026-12-03T10:00:00+08:00");

            Assert.That(exit, Is.Zero, error);
            Assert.That(output, Does.Contain("\"actions\""));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static async Task<(int? Exit, string Output, string Error)> RunAsync(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var exit = await BotCommands.TryRunAsync(args, output, error, TimeProvider.System);
        return (exit, output.ToString(), error.ToString());
    }
}
