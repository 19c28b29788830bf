using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Bot.Tests.Fixtures;

namespace Bot.Tests.Deploy;

public sealed partial class ComposeTests
{
    private static JsonObject Services => DeployFiles.LoadYaml("docker-compose.yml").Single()["services"]!.AsObject();

    private static JsonObject Bot => Services["bot"]!.AsObject();

    [Test]
    public void Compose_brings_up_the_bot_proxy_sql_server_and_redis()
    {
        Assert.That(Services.Select(s => s.Key), Is.SupersetOf(new[] { "bot", "proxy", "sqlserver", "redis" }));
        Assert.That(DeployFiles.Str(Services["sqlserver"]!["image"]), Is.EqualTo("mcr.microsoft.com/mssql/server:2022-latest"));
        Assert.That(DeployFiles.Str(Services["proxy"]!["image"]), Does.StartWith("nginx:"));
    }

    [Test]
    public void Bot_runs_two_replicas_built_from_the_deploy_dockerfile()
    {
        Assert.Multiple(() =>
        {
            Assert.That(DeployFiles.Str(Bot["deploy"]!["replicas"]), Is.EqualTo("2"));
            // A fixed container name or published host port would stop the second replica from starting.
            Assert.That(Bot.ContainsKey("container_name"), Is.False);
            Assert.That(Bot.ContainsKey("ports"), Is.False);
            Assert.That(DeployFiles.Str(Bot["build"]!["dockerfile"]), Is.EqualTo("deploy/Dockerfile"));
            Assert.That(File.Exists(Path.Combine(DeployFiles.Path(), DeployFiles.Str(Bot["build"]!["context"]), "WeComBot.sln")),
                "the build context is the repository root");
        });
    }

    [Test]
    public void Bot_uses_sql_server_and_the_shared_redis()
    {
        var environment = DeployFiles.ComposeEnvironment(Bot);

        Assert.Multiple(() =>
        {
            Assert.That(environment["Storage__Provider"], Is.EqualTo("SqlServer"));
            Assert.That(environment["ConnectionStrings__Bot"], Does.Contain("Server=sqlserver"));
            Assert.That(environment["Redis__Configuration"], Does.StartWith("redis:6379"));
            Assert.That(Bot["depends_on"]!.AsObject().Select(d => d.Key), Is.SupersetOf(new[] { "redis", "sqlserver-init" }));
        });
    }

    [Test]
    public void Rules_folder_is_mounted_read_only_where_Rules_Path_points()
    {
        var rulesPath = DeployFiles.ComposeEnvironment(Bot)["Rules__Path"];
        var mounts = Bot["volumes"]!.AsArray().Select(DeployFiles.Str).Select(v => v.Split(':')).ToList();

        var rules = mounts.Single(m => m[1] == rulesPath);
        Assert.That(rules, Has.Length.EqualTo(3));
        Assert.That(rules[2], Is.EqualTo("ro"));
        Assert.That(Directory.GetFiles(Path.Combine(DeployFiles.Path(), rules[0]), "*.yaml"), Is.Not.Empty);
    }

    [Test]
    public void Secrets_come_from_the_git_ignored_env_file_and_are_never_inlined()
    {
        Assert.That(DeployFiles.Str(Bot["env_file"]), Is.EqualTo(".env"));
        Assert.That(File.Exists(DeployFiles.Path(".env.example")), Is.True);
        Assert.That(File.ReadAllLines(RepoFiles.Path(".gitignore")), Does.Contain(".env"));
        foreach (var (service, definition) in Services)
        {
            foreach (var (name, value) in DeployFiles.ComposeEnvironment(definition!.AsObject()).Where(e => SecretNames.IsSecret(e.Key)))
            {
                Assert.That(SecretNames.IsReference(value), Is.True, $"{service}: {name} inlines a secret instead of a ${{VAR}} from .env");
            }
        }
    }

    [Test]
    public void Env_example_holds_names_only()
    {
        var assignments = File.ReadAllLines(DeployFiles.Path(".env.example"))
            .Where(line => line.Length > 0 && !line.StartsWith('#'));

        Assert.That(assignments, Is.Not.Empty);
        Assert.That(assignments, Has.All.EndsWith("="), "a committed example must not carry values");
    }

    [Test]
    public void Proxy_forwards_to_the_bot_service_port_with_the_mounted_config()
    {
        var proxyMount = Services["proxy"]!["volumes"]!.AsArray().Select(DeployFiles.Str).Single(v => v.Contains("nginx.conf"));
        var nginx = File.ReadAllText(Path.Combine(DeployFiles.Path(), proxyMount.Split(':')[0]));
        var port = DeployFiles.ComposeEnvironment(Bot)["ASPNETCORE_HTTP_PORTS"];

        Assert.That(UpstreamServer().Match(nginx).Groups["target"].Value, Is.EqualTo($"bot:{port}"));
        Assert.That(nginx, Does.Contain("proxy_pass http://bot;"));
        Assert.That(NextUpstream().Match(nginx).Groups["conditions"].Value, Does.Not.Contain("non_idempotent"),
            "a POST callback must never be replayed on another replica");
    }

    [GeneratedRegex(@"^\s*proxy_next_upstream\s+(?<conditions>[^;]*);", RegexOptions.Multiline)]
    private static partial Regex NextUpstream();

    [GeneratedRegex(@"upstream\s+bot\s*\{\s*server\s+(?<target>\S+)")]
    private static partial Regex UpstreamServer();
}
