using System.Collections.Concurrent;
using System.Diagnostics;

namespace Bot.Tests.Fixtures;

/// <summary>
/// A real Bot.Host process (the Bot.Host.dll built beside this test assembly, same configuration) on a loopback
/// port, configured by environment as a deployment would be, with the test secrets of <see cref="BotApp"/>.
/// <see cref="StartAsync"/> returns once /healthz answers; <see cref="Kill"/> ends it as a crash would.
/// </summary>
public sealed class BotProcess : IDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();

    private BotProcess(Process process, string url)
    {
        _process = process;
        Url = url;
    }

    public string Url { get; }

    public int ProcessId => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>The last lines the host wrote, for failure messages.</summary>
    public string Output => string.Join('\n', _output.TakeLast(80));

    /// <param name="settings">Configuration keys (`Section:Key`) over the defaults; a null value removes a default.</param>
    public static async Task<BotProcess> StartAsync(string weComUrl, string databasePath, string rulesPath, IReadOnlyDictionary<string, string?>? settings = null)
    {
        var testBin = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var dll = RepoFiles.Path("Bot.Host", "bin", testBin.Parent!.Name, testBin.Name, "Bot.Host.dll");
        Assert.That(File.Exists(dll), Is.True, $"{dll} is not built");
        var url = $"http://127.0.0.1:{RedisTestServer.FreePort()}";
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { dll, "--urls", url },
            WorkingDirectory = Path.GetDirectoryName(dll)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var configuration = new Dictionary<string, string?>
        {
            ["WeCom:CorpId"] = BotApp.CorpId,
            ["WeCom:AgentId"] = "1000002",
            ["WeCom:Secret"] = "test-secret-value",
            ["WeCom:Token"] = BotApp.Token,
            ["WeCom:EncodingAesKey"] = BotApp.EncodingAesKey,
            ["WeCom:ApiBaseUrl"] = weComUrl + "/cgi-bin/",
            ["ConnectionStrings:Bot"] = $"Data Source={databasePath}",
            ["Rules:Path"] = rulesPath,
            ["Admin:ApiKey"] = BotApp.AdminKey,
            ["Redis:Configuration"] = "",
            ["Logging:LogLevel:Default"] = "Warning",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            configuration[key] = value;
        }
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Testing";
        foreach (var (key, value) in configuration)
        {
            if (value is not null)
            {
                start.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
            }
        }
        var process = Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start");
        var host = new BotProcess(process, url);
        // Drained continuously: a full pipe would block the host's logging.
        process.OutputDataReceived += (_, e) => host.Record(e.Data);
        process.ErrorDataReceived += (_, e) => host.Record(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var http = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            if (process.HasExited)
            {
                Assert.Fail($"Bot.Host exited with {process.ExitCode}:\n{host.Output}");
            }
            try
            {
                using var response = await http.GetAsync("/healthz");
                if (response.IsSuccessStatusCode)
                {
                    return host;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                // Not listening yet.
            }
            if (DateTime.UtcNow > deadline)
            {
                host.Dispose();
                Assert.Fail($"Bot.Host did not become healthy:\n{host.Output}");
            }
            // Polls: the host is another process, with nothing to signal on.
            await Task.Delay(100);
        }
    }

    /// <summary>A POST to /wecom/callback carrying <paramref name="plaintextXml"/>, encrypted and signed afresh as WeCom does.</summary>
    public static HttpRequestMessage SignedPost(string plaintextXml)
    {
        var crypto = new Bot.Core.WeCom.Callbacks.CallbackCrypto(BotApp.Token, BotApp.EncodingAesKey, BotApp.CorpId);
        var timestamp = DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        var nonce = Random.Shared.Next(100_000, 999_999).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var encrypt = crypto.Encrypt(plaintextXml);
        var body = $"<xml><ToUserName><![CDATA[{BotApp.CorpId}]]></ToUserName><AgentID><![CDATA[1000002]]></AgentID><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>";
        return new HttpRequestMessage(HttpMethod.Post, $"/wecom/callback?msg_signature={crypto.Sign(timestamp, nonce, encrypt)}&timestamp={timestamp}&nonce={nonce}")
        {
            Content = new StringContent(body, System.Text.Encoding.UTF8, "application/xml"),
        };
    }

    public HttpClient CreateClient() => new() { BaseAddress = new Uri(Url), Timeout = TimeSpan.FromSeconds(10) };

    /// <summary>Ends the process at once (SIGKILL), as a crash or an OOM kill would: nothing is released or drained.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }
    }

    public void Dispose()
    {
        Kill();
        _process.Dispose();
    }

    private void Record(string? line)
    {
        if (line is not null)
        {
            _output.Enqueue(line);
        }
    }
}

/// <summary>
/// A temporary folder for <see cref="BotProcess"/> hosts: a copy of the repository's rules with the welcome time window
/// removed (so tests pass at any hour) and the path of a SQLite file that no host has created yet.
/// </summary>
public sealed class ProcessWorkspace : IDisposable
{
    public ProcessWorkspace(string name)
    {
        Directory = Path.Combine(Path.GetTempPath(), name, Guid.NewGuid().ToString("N"));
        Rules = Path.Combine(Directory, "rules");
        System.IO.Directory.CreateDirectory(Rules);
        foreach (var file in System.IO.Directory.GetFiles(RepoFiles.Path("rules"), "*.yaml"))
        {
            File.Copy(file, Path.Combine(Rules, Path.GetFileName(file)));
        }
        EndToEnd.FakeWeCom.RemoveWelcomeTimeWindow(Rules);
        Database = Path.Combine(Directory, "bot.db");
    }

    public string Directory { get; }

    public string Rules { get; }

    public string Database { get; }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a killed host may still hold a file for a moment.
        }
    }
}
