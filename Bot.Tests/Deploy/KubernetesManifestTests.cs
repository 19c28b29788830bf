using System.Text.Json.Nodes;
using Bot.Tests.Fixtures;

namespace Bot.Tests.Deploy;

public sealed class KubernetesManifestTests
{
    private static JsonObject Deployment => DeployFiles.KubernetesDocument("Deployment");

    private static JsonNode PodSpec => Deployment["spec"]!["template"]!["spec"]!;

    private static JsonNode Bot => PodSpec["containers"]!.AsArray().Single(c => (string?)c!["name"] == "bot")!;

    [Test]
    public void Manifests_parse_and_hold_the_expected_kinds()
    {
        var kinds = DeployFiles.KubernetesDocuments().Select(d => DeployFiles.Str(d["kind"])).ToList();

        Assert.That(kinds, Is.EquivalentTo(new[] { "ConfigMap", "Deployment", "PodDisruptionBudget", "Service" }));
        Assert.That(kinds, Has.None.EqualTo("Secret"), "secret values are created out of band, never committed");
    }

    [Test]
    public void Kustomization_lists_every_manifest()
    {
        var listed = DeployFiles.LoadYaml("k8s", "kustomization.yaml").Single()["resources"]!.AsArray().Select(DeployFiles.Str);
        var present = Directory.GetFiles(DeployFiles.Path("k8s"), "*.yaml").Select(Path.GetFileName).Where(f => f != "kustomization.yaml");

        Assert.That(listed, Is.EquivalentTo(present));
    }

    [Test]
    public void Deployment_runs_two_replicas_and_probes_readyz_and_healthz()
    {
        Assert.Multiple(() =>
        {
            Assert.That(DeployFiles.Str(Deployment["spec"]!["replicas"]), Is.EqualTo("2"));
            Assert.That(DeployFiles.Str(Bot["readinessProbe"]!["httpGet"]!["path"]), Is.EqualTo("/readyz"));
            Assert.That(DeployFiles.Str(Bot["livenessProbe"]!["httpGet"]!["path"]), Is.EqualTo("/healthz"));
            Assert.That(DeployFiles.Str(Bot["startupProbe"]!["httpGet"]!["path"]), Is.EqualTo("/healthz"));
            Assert.That(DeployFiles.Str(Bot["readinessProbe"]!["httpGet"]!["port"]), Is.EqualTo("http"));
            Assert.That(Bot["ports"]!.AsArray().Any(p => (string?)p!["name"] == "http" && (string?)p["containerPort"] == "8080"));
        });
    }

    [Test]
    public void Every_secret_is_a_secret_reference_not_a_value()
    {
        var secretEnv = Bot["env"]!.AsArray().Where(e => SecretNames.IsSecret(DeployFiles.Str(e!["name"]))).ToList();

        Assert.That(secretEnv, Is.Not.Empty);
        Assert.Multiple(() =>
        {
            foreach (var entry in secretEnv)
            {
                Assert.That(entry!["value"], Is.Null, $"{entry["name"]} has an inline value");
                Assert.That((string?)entry["valueFrom"]?["secretKeyRef"]?["key"], Is.EqualTo((string?)entry["name"]));
            }
        });
    }

    [Test]
    public void Rules_config_map_is_mounted_read_only_where_Rules_Path_points()
    {
        var rulesPath = DeployFiles.Str(Bot["env"]!.AsArray().Single(e => (string?)e!["name"] == "Rules__Path")!["value"]);
        var mount = Bot["volumeMounts"]!.AsArray().Single(m => (string?)m!["mountPath"] == rulesPath)!;
        var volume = PodSpec["volumes"]!.AsArray().Single(v => (string?)v!["name"] == (string?)mount["name"])!;
        var configMap = DeployFiles.KubernetesDocument("ConfigMap");

        Assert.Multiple(() =>
        {
            Assert.That(DeployFiles.Str(mount["readOnly"]), Is.EqualTo("true"));
            // A subPath mount never sees ConfigMap updates, which would defeat the rules hot reload.
            Assert.That(mount["subPath"], Is.Null);
            Assert.That((string?)volume["configMap"]?["name"], Is.EqualTo(DeployFiles.Str(configMap["metadata"]!["name"])));
        });
    }

    [Test]
    public void Rules_config_map_carries_each_example_rule_file_as_valid_yaml()
    {
        var data = DeployFiles.KubernetesDocument("ConfigMap")["data"]!.AsObject();
        var ruleFiles = Directory.GetFiles(RepoFiles.Path("rules"), "*.yaml").Select(Path.GetFileName);

        Assert.That(data.Select(d => d.Key), Is.EquivalentTo(ruleFiles));
        foreach (var (name, content) in data)
        {
            var yaml = new YamlDotNet.RepresentationModel.YamlStream();
            Assert.DoesNotThrow(() => yaml.Load(new StringReader(DeployFiles.Str(content))), name);
        }
    }

    [Test]
    public void Service_and_disruption_budget_select_the_deployment_pods()
    {
        var podLabels = Deployment["spec"]!["template"]!["metadata"]!["labels"]!.AsObject();
        var service = DeployFiles.KubernetesDocument("Service");
        var budget = DeployFiles.KubernetesDocument("PodDisruptionBudget");

        Assert.Multiple(() =>
        {
            AssertSelects(service["spec"]!["selector"]!.AsObject(), podLabels);
            AssertSelects(budget["spec"]!["selector"]!["matchLabels"]!.AsObject(), podLabels);
            Assert.That(DeployFiles.Str(service["spec"]!["ports"]![0]!["targetPort"]), Is.EqualTo("http"));
            // With 2 replicas a budget of minAvailable 1 still lets a node drain proceed.
            Assert.That(DeployFiles.Str(budget["spec"]!["minAvailable"]), Is.EqualTo("1"));
        });
    }

    [Test]
    public void Container_has_requests_limits_and_a_locked_down_security_context()
    {
        Assert.Multiple(() =>
        {
            foreach (var section in new[] { "requests", "limits" })
            {
                Assert.That(Bot["resources"]![section]!["cpu"], Is.Not.Null, section);
                Assert.That(Bot["resources"]![section]!["memory"], Is.Not.Null, section);
            }
            Assert.That(DeployFiles.Str(PodSpec["securityContext"]!["runAsNonRoot"]), Is.EqualTo("true"));
            Assert.That(DeployFiles.Str(Bot["securityContext"]!["allowPrivilegeEscalation"]), Is.EqualTo("false"));
            Assert.That(DeployFiles.Str(Bot["securityContext"]!["readOnlyRootFilesystem"]), Is.EqualTo("true"));
        });
        Assert.That(DeployFiles.ReadText("k8s", "deployment.yaml"), Does.Not.Contain("PLACEHOLDER").And.Contain("bench/RESULTS.md"),
            "the resource figures say which measurements they were sized from");
    }

    private static void AssertSelects(JsonObject selector, JsonObject podLabels)
    {
        Assert.That(selector, Is.Not.Empty);
        foreach (var (key, value) in selector)
        {
            Assert.That((string?)podLabels[key], Is.EqualTo((string?)value), key);
        }
    }
}
