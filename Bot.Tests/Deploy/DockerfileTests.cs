using System.Diagnostics;
using Bot.Tests.Fixtures;

namespace Bot.Tests.Deploy;

public sealed class DockerfileTests
{
    private static IReadOnlyList<DockerInstruction> Instructions { get; } = DeployFiles.DockerInstructions();

    private static IReadOnlyList<DockerInstruction> FinalStage =>
        Instructions.Skip(Instructions.Select((i, n) => (i, n)).Last(x => x.i.Keyword == "FROM").n).ToList();

    [Test]
    public void Build_stage_publishes_the_host_with_the_sdk_and_the_final_stage_runs_on_aspnet()
    {
        var froms = Instructions.Where(i => i.Keyword == "FROM").Select(i => i.Arguments).ToList();

        Assert.Multiple(() =>
        {
            Assert.That(froms.First(), Does.StartWith("mcr.microsoft.com/dotnet/sdk:10.0 "));
            Assert.That(froms.Last(), Does.StartWith("mcr.microsoft.com/dotnet/aspnet:10.0"));
            Assert.That(Instructions.Where(i => i.Keyword == "RUN").Select(i => i.Arguments),
                Has.Some.StartWith("dotnet publish Bot.Host/Bot.Host.csproj -c Release -o /app"));
        });
    }

    [Test]
    public void Every_path_the_dockerfile_copies_from_the_context_exists_and_is_not_ignored()
    {
        var sources = Instructions
            .Where(i => i.Keyword == "COPY" && !i.Arguments.Contains("--from=", StringComparison.Ordinal))
            .SelectMany(i => i.Arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries).Where(a => !a.StartsWith("--")).SkipLast(1))
            .ToList();
        var ignored = File.ReadAllLines(DeployFiles.Path("Dockerfile.dockerignore"))
            .Where(l => l.Length > 0 && !l.StartsWith('#'))
            .Select(l => l.TrimEnd('/'))
            .ToList();

        Assert.That(sources, Is.Not.Empty);
        Assert.Multiple(() =>
        {
            foreach (var source in sources)
            {
                var path = RepoFiles.Path(source.TrimEnd('/'));
                Assert.That(File.Exists(path) || Directory.Exists(path), Is.True, $"COPY {source}: not in the repository");
                Assert.That(ignored, Does.Not.Contain(source.TrimEnd('/').Split('/')[0]), $"COPY {source}: excluded by the .dockerignore");
            }
        });
    }

    [Test]
    public void Final_stage_runs_the_host_as_a_non_root_user_with_a_healthz_healthcheck()
    {
        var user = FinalStage.Last(i => i.Keyword == "USER").Arguments;
        var healthcheck = FinalStage.Single(i => i.Keyword == "HEALTHCHECK").Arguments;

        Assert.Multiple(() =>
        {
            Assert.That(user, Is.Not.EqualTo("root").And.Not.EqualTo("0"));
            Assert.That(FinalStage.Single(i => i.Keyword == "ENTRYPOINT").Arguments, Is.EqualTo("""["dotnet", "Bot.Host.dll"]"""));
            // The aspnet image has no curl: the host's own verb does the probe.
            Assert.That(healthcheck, Does.Contain("""CMD ["dotnet", "Bot.Host.dll", "healthcheck", "http://127.0.0.1:8080/healthz"]"""));
            Assert.That(FinalStage.Where(i => i.Keyword == "ENV").Select(i => i.Arguments), Has.Some.Contain("ASPNETCORE_HTTP_PORTS=8080"));
        });
    }

    [Test]
    [Category("Slow")]
    [CancelAfter(180_000)]
    public async Task Publish_produces_the_files_the_final_stage_runs(CancellationToken cancellationToken)
    {
        var output = Path.Combine(Path.GetTempPath(), "wecombot-publish-" + Guid.NewGuid().ToString("N"));
        try
        {
            // The Dockerfile's publish command; -nr:false leaves no MSBuild node running after the test.
            var (exitCode, log) = await RunAsync("dotnet", ["publish", "Bot.Host/Bot.Host.csproj", "-c", "Release", "-o", output, "-nr:false"], cancellationToken);

            Assert.That(exitCode, Is.Zero, log);
            Assert.Multiple(() =>
            {
                Assert.That(File.Exists(Path.Combine(output, "Bot.Host.dll")), "Bot.Host.dll");
                Assert.That(File.Exists(Path.Combine(output, "Bot.Host.runtimeconfig.json")), "Bot.Host.runtimeconfig.json");
                Assert.That(File.ReadAllText(Path.Combine(output, "appsettings.json")), Is.EqualTo(File.ReadAllText(RepoFiles.Path("appsettings.json"))));
            });
        }
        finally
        {
            if (Directory.Exists(output))
            {
                Directory.Delete(output, recursive: true);
            }
        }
    }

    private static async Task<(int ExitCode, string Log)> RunAsync(string fileName, string[] arguments, CancellationToken cancellationToken)
    {
        var startInfo = new ProcessStartInfo(fileName)
        {
            WorkingDirectory = RepoFiles.Root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }
        using var process = Process.Start(startInfo) ?? throw new InvalidOperationException($"{fileName} did not start");
        try
        {
            var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
            var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
            await process.WaitForExitAsync(cancellationToken);
            return (process.ExitCode, await stdout + await stderr);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
    }
}
