using System.Diagnostics;

namespace Bot.Tests.Fixtures;

/// <summary>
/// Runs the Debian <c>chromium</c> package headless, once per call, with a throw-away profile. test.sh installs it;
/// a missing browser fails the test rather than skipping it, so a CI image without it cannot pass silently.
/// </summary>
public static class HeadlessChromium
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    /// <summary>The DOM after the page loaded, serialised by the browser.</summary>
    public static async Task<string> DumpDomAsync(string url) => await RunAsync(["--dump-dom", url]);

    /// <summary>Writes a PNG of the page at 1200×900 to <paramref name="file"/>.</summary>
    public static async Task ScreenshotAsync(string url, string file) =>
        await RunAsync([$"--screenshot={file}", "--window-size=1200,900", url]);

    private static string Executable()
    {
        var path = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries);
        foreach (var name in new[] { "chromium", "chromium-browser" })
        {
            foreach (var dir in path)
            {
                var candidate = Path.Combine(dir, name);
                if (File.Exists(candidate))
                {
                    return candidate;
                }
            }
        }
        Assert.Fail("chromium is not installed. Run ./test.sh, which installs it (apt-get install -y chromium), or install it yourself.");
        throw new UnreachableException();
    }

    private static async Task<string> RunAsync(IEnumerable<string> action)
    {
        var profile = Path.Combine(Path.GetTempPath(), "wecombot-chromium", Guid.NewGuid().ToString("N"));
        var start = new ProcessStartInfo(Executable())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // Root in a container has no user namespace sandbox; no network beyond the page itself.
        string[] common = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", $"--user-data-dir={profile}"];
        foreach (var arg in common)
        {
            start.ArgumentList.Add(arg);
        }
        foreach (var arg in action)
        {
            start.ArgumentList.Add(arg);
        }
        using var process = Process.Start(start) ?? throw new InvalidOperationException("chromium did not start");
        using var timeout = new CancellationTokenSource(Timeout);
        var stdout = process.StandardOutput.ReadToEndAsync(timeout.Token);
        var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
            var dom = await stdout;
            Assert.That(process.ExitCode, Is.Zero, () => $"chromium exited with {process.ExitCode}: {stderr.Result}");
            return dom;
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"chromium did not finish within {Timeout.TotalSeconds} s");
            throw;
        }
        finally
        {
            try
            {
                Directory.Delete(profile, recursive: true);
            }
            catch (IOException)
            {
                // Chromium's helpers may still hold the profile for a moment; the OS cleans the temp folder.
            }
        }
    }
}
