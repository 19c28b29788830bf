using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Bot.Tests.Fixtures;

/// <summary>
/// A real redis-server on a free loopback port, started once for the whole run on first use and stopped by
/// <see cref="TestRunLifetime"/>. Tests isolate themselves with their own key prefix (<see cref="NewPrefix"/>).
/// Tests that stop and restart Redis get a private server from <see cref="StartPrivate"/>.
/// </summary>
public sealed class RedisTestServer : IDisposable
{
    private static readonly Lazy<RedisTestServer> SharedServer = new(() => StartPrivate(), LazyThreadSafetyMode.ExecutionAndPublication);
    private Process? _process;

    private RedisTestServer(int port) => Port = port;

    public int Port { get; }

    public string Configuration => $"127.0.0.1:{Port},abortConnect=false,connectTimeout=2000";

    public static RedisTestServer Shared => SharedServer.Value;

    internal static bool SharedStarted => SharedServer.IsValueCreated;

    public static string NewPrefix() => "t" + Guid.NewGuid().ToString("N")[..12] + ":";

    public static RedisTestServer StartPrivate()
    {
        var server = new RedisTestServer(FreePort());
        server.Start();
        return server;
    }

    public void Start()
    {
        var exe = FindRedisServer() ?? throw new InvalidOperationException(
            "redis-server is not installed. Run the tests through ./test.sh, which installs it from Debian packages.");
        var psi = new ProcessStartInfo(exe)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "--port", Port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no" })
        {
            psi.ArgumentList.Add(arg);
        }
        _process = Process.Start(psi) ?? throw new InvalidOperationException("redis-server did not start");
        _process.OutputDataReceived += static (_, _) => { };
        _process.ErrorDataReceived += static (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        WaitUntilListening();
    }

    /// <summary>Kills the server (as a crash would) so tests can observe behaviour while Redis is gone.</summary>
    public void Stop()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(5000);
        }
        _process?.Dispose();
        _process = null;
    }

    /// <summary>
    /// Suspends the server (SIGSTOP): its connections stay open and no command is answered, as with a stalled host or
    /// a network that drops packets. <see cref="Thaw"/> resumes it.
    /// </summary>
    public void Freeze() => Signal(SigStop);

    public void Thaw() => Signal(SigCont);

    public void Dispose() => Stop();

    // Linux signal numbers; the tests run on Linux (test.sh installs redis-server from Debian packages).
    private const int SigCont = 18;
    private const int SigStop = 19;

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);

    private void Signal(int signal)
    {
        var process = _process ?? throw new InvalidOperationException("redis-server is not running");
        if (SendSignal(process.Id, signal) != 0)
        {
            throw new InvalidOperationException($"kill({process.Id}, {signal}) failed with errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
        }
    }

    private void WaitUntilListening()
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(10))
        {
            try
            {
                using var client = new TcpClient();
                client.Connect(IPAddress.Loopback, Port);
                return;
            }
            catch (SocketException)
            {
                // Not listening yet: redis-server takes a few milliseconds to bind.
                Thread.Sleep(20);
            }
        }
        throw new InvalidOperationException($"redis-server did not listen on port {Port} within 10 s");
    }

    private static string? FindRedisServer()
    {
        foreach (var candidate in new[] { "/usr/bin/redis-server", "/usr/local/bin/redis-server" })
        {
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        return path.Split(':').Select(p => Path.Combine(p, "redis-server")).FirstOrDefault(File.Exists);
    }

    internal static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
