namespace Bot.Tests.Deploy;

public sealed class SystemdUnitTests
{
    private static ILookup<string, string> Service { get; } = ReadSection("Service");

    [Test]
    public void Unit_runs_as_a_dedicated_user_with_secrets_from_an_environment_file()
    {
        Assert.Multiple(() =>
        {
            Assert.That(Service["User"].Single(), Is.EqualTo("wecombot"));
            Assert.That(Service["EnvironmentFile"].Single(), Does.StartWith("/etc/wecombot/"));
            Assert.That(Service["ExecStart"].Single(), Does.EndWith("/Bot.Host.dll"));
            Assert.That(Service["Restart"].Single(), Is.EqualTo("on-failure"));
            Assert.That(Service["Environment"].Where(SecretNames.IsSecret).Where(e => !e.Contains("Data Source=")), Is.Empty,
                "secrets belong in the EnvironmentFile");
        });
    }

    [TestCase("NoNewPrivileges", "yes")]
    [TestCase("ProtectSystem", "strict")]
    [TestCase("ProtectHome", "yes")]
    [TestCase("PrivateTmp", "yes")]
    [TestCase("CapabilityBoundingSet", "")]
    public void Unit_is_hardened(string option, string value)
    {
        Assert.That(Service[option], Is.EqualTo(new[] { value }));
    }

    [Test]
    public void Unit_leaves_executable_memory_to_the_jit()
    {
        Assert.That(Service["MemoryDenyWriteExecute"], Is.Empty, "the .NET JIT needs W+X pages");
    }

    [Test]
    public void Sqlite_database_lives_in_the_state_directory()
    {
        var state = Service["StateDirectory"].Single();
        var connection = Service["Environment"].Single(e => e.Contains("ConnectionStrings__Bot", StringComparison.Ordinal));

        Assert.That(connection, Does.Contain($"Data Source=/var/lib/{state}/"));
    }

    private static ILookup<string, string> ReadSection(string name)
    {
        var lines = File.ReadAllLines(DeployFiles.Path("systemd", "wecombot.service"));
        return lines
            .SkipWhile(l => l != $"[{name}]").Skip(1)
            .TakeWhile(l => !l.StartsWith('['))
            .Where(l => l.Length > 0 && !l.StartsWith('#'))
            .ToLookup(l => l[..l.IndexOf('=')], l => l[(l.IndexOf('=') + 1)..].Trim('"'));
    }
}
