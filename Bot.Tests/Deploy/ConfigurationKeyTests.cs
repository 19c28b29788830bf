namespace Bot.Tests.Deploy;

public sealed class ConfigurationKeyTests
{
    private static readonly string[] Sources = ["docker-compose.yml", ".env.example", "k8s/deployment.yaml", "systemd/wecombot.service", "Dockerfile"];

    [Test]
    public void Key_list_is_derived_from_the_options_classes()
    {
        Assert.Multiple(() =>
        {
            Assert.That(ConfigurationKeys.FromOptionsClasses, Does.Contain("WeCom:EncodingAesKey"));
            Assert.That(ConfigurationKeys.FromOptionsClasses, Does.Contain("Redis:Configuration"));
            Assert.That(ConfigurationKeys.FromOptionsClasses, Does.Contain("Storage:Provider"));
            // RedisOptions.Enabled is computed, not bindable.
            Assert.That(ConfigurationKeys.FromOptionsClasses, Does.Not.Contain("Redis:Enabled"));
            Assert.That(ConfigurationKeys.IsKnown("WeCom:CorpIdd"), Is.False);
        });
    }

    [TestCaseSource(nameof(Sources))]
    public void Every_configuration_variable_in_a_deployment_file_names_a_known_key(string file)
    {
        var configKeys = EnvironmentNames(file).Where(ConfigurationKeys.LooksLikeConfigKey).ToList();

        Assert.That(configKeys, Is.Not.Empty, $"{file} sets no Section__Key variable: the extractor is broken");
        var unknown = configKeys.Where(n => !ConfigurationKeys.IsKnown(ConfigurationKeys.FromEnvironmentName(n)));
        Assert.That(unknown, Is.Empty, $"{file} sets variables that no options class, appsettings.json or known host key declares");
    }

    [TestCase("compose")]
    [TestCase("k8s")]
    [TestCase("systemd")]
    public void Every_required_option_without_a_default_is_supplied(string form)
    {
        var supplied = form switch
        {
            // The compose bot reads deploy/.env (modelled by .env.example) plus its environment: block.
            "compose" => DeployFiles.EnvFileNames(".env.example").Concat(EnvironmentNames("docker-compose.yml")),
            "k8s" => EnvironmentNames("k8s/deployment.yaml"),
            // The unit's EnvironmentFile holds the .env.example keys.
            "systemd" => DeployFiles.EnvFileNames(".env.example").Concat(EnvironmentNames("systemd/wecombot.service")),
            _ => throw new ArgumentOutOfRangeException(nameof(form)),
        };
        var keys = supplied.Select(ConfigurationKeys.FromEnvironmentName).ToHashSet(StringComparer.OrdinalIgnoreCase);

        Assert.That(ConfigurationKeys.RequiredWithoutDefault, Does.Contain("WeCom:Token"));
        Assert.That(ConfigurationKeys.RequiredWithoutDefault.Where(k => !keys.Contains(k)), Is.Empty);
    }

    private static IEnumerable<string> EnvironmentNames(string file) => file switch
    {
        "docker-compose.yml" => DeployFiles.LoadYaml("docker-compose.yml").Single()["services"]!.AsObject()
            .SelectMany(service => DeployFiles.ComposeEnvironment(service.Value!.AsObject()).Keys),
        ".env.example" => DeployFiles.EnvFileNames(".env.example"),
        "k8s/deployment.yaml" => DeployFiles.KubernetesDocument("Deployment")["spec"]!["template"]!["spec"]!["containers"]!
            .AsArray()
            .SelectMany(c => c!["env"]?.AsArray() ?? [])
            .Select(e => DeployFiles.Str(e!["name"])),
        "systemd/wecombot.service" => DeployFiles.SystemdEnvironmentNames(DeployFiles.ReadText("systemd", "wecombot.service")),
        "Dockerfile" => DeployFiles.DockerfileEnvironmentNames(DeployFiles.DockerInstructions()),
        _ => throw new ArgumentOutOfRangeException(nameof(file)),
    };
}
