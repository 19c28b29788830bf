using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;

namespace Bot.Bench;

/// <summary>
/// Callback-to-send_welcome_msg latency: the real host as a child process (Release build of Bot.Host, fresh SQLite,
/// shipped rules, in-process limiter) with WeCom:ApiBaseUrl at an in-process stub that records when each welcome
/// arrives. Sends paced 'contact added' callbacks and reports p50/p99 from each callback's send to its welcome's arrival.
/// Options: --rate R (1000/s) --seconds S (9.5) --warmup N (100) --rules DIR (the shipped rules) --host Bot.Host.dll --keep (keep the host's database). Goal: p99 ≤ 1 s at 1,000 callbacks/s.
/// </summary>
internal static class WelcomeLatencyBench
{
    // The default quota rule allows 10,000 send_welcome_msg a minute per corp (doc 90454); warm-up + run stay below it
    // so the figure is the pipeline's latency, not the limiter holding back the 10,001st welcome.
    public static async Task<int> RunAsync(string[] args)
    {
        var rate = DoubleArg(args, "--rate", 1000);
        var seconds = DoubleArg(args, "--seconds", 9.5);
        var warmup = (int)DoubleArg(args, "--warmup", 100);
        var count = (int)(rate * seconds);
        var hostDll = HostDll(args);

        var identity = new Dictionary<string, string>
        {
            ["WeCom__CorpId"] = "wwbench0000000001",
            ["WeCom__AgentId"] = "1000002",
            ["WeCom__Secret"] = "bench-secret",
            ["WeCom__Token"] = "benchtoken",
            ["WeCom__EncodingAesKey"] = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        };
        var generator = new CallbackGenerator(identity["WeCom__CorpId"], identity["WeCom__AgentId"], identity["WeCom__Token"], identity["WeCom__EncodingAesKey"]);
        await using var stub = await WeComStub.StartAsync([], recordWelcomes: true, CancellationToken.None);

        var folder = Path.Combine(Path.GetTempPath(), "wecombot-bench", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        var hostUrl = $"http://127.0.0.1:{FreePort()}";
        var start = new ProcessStartInfo("dotnet", [hostDll, "--urls", hostUrl])
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = folder,
        };
        foreach (var (key, value) in identity)
        {
            start.Environment[key] = value;
        }
        start.Environment["WeCom__ApiBaseUrl"] = stub.Url + "/cgi-bin/";
        start.Environment["ConnectionStrings__Bot"] = $"Data Source={Path.Combine(folder, "bot.db")}";
        start.Environment["Rules__Path"] = StringArg(args, "--rules") is { } rules ? Path.GetFullPath(rules) : Path.Combine(Path.GetDirectoryName(hostDll)!, "rules");
        start.Environment["Logging__LogLevel__Default"] = "Warning";
        start.Environment["Redis__Configuration"] = "";
        using var host = Process.Start(start) ?? throw new InvalidOperationException("the host did not start");
        var hostOutput = new StringBuilder();
        host.OutputDataReceived += (_, e) => { lock (hostOutput) { hostOutput.AppendLine(e.Data); } };
        host.ErrorDataReceived += (_, e) => { lock (hostOutput) { hostOutput.AppendLine(e.Data); } };
        host.BeginOutputReadLine();
        host.BeginErrorReadLine();
        try
        {
            using var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 512, PooledConnectionLifetime = Timeout.InfiniteTimeSpan })
            {
                BaseAddress = new Uri(hostUrl),
                Timeout = TimeSpan.FromSeconds(30),
            };
            try
            {
                await WaitHealthyAsync(client, host);
            }
            catch (InvalidOperationException)
            {
                lock (hostOutput)
                {
                    Console.Error.WriteLine(hostOutput);
                }
                throw;
            }

            // Warm-up: JIT, token fetch, rule compilation, connection pool; not measured.
            await SendPacedAsync(client, generator, 0, warmup, rate / 4);
            await WaitForWelcomesAsync(stub, generator, 0, warmup, TimeSpan.FromSeconds(30));

            var sent = await SendPacedAsync(client, generator, warmup, count, rate);
            var lastSend = sent.Max(s => s.SentAt);
            var arrived = await WaitForWelcomesAsync(stub, generator, warmup, count, TimeSpan.FromSeconds(60));
            var drained = Stopwatch.GetElapsedTime(lastSend);

            var latencies = new List<double>(count);
            foreach (var s in sent)
            {
                if (stub.WelcomeArrivals.TryGetValue(generator.WelcomeCode(s.Index), out var at))
                {
                    latencies.Add(Stopwatch.GetElapsedTime(s.SentAt, at).TotalMilliseconds);
                }
            }
            latencies.Sort();
            var acks = sent.Select(s => s.AckMs).Order().ToArray();
            var failed = sent.Count(s => s.Status != HttpStatusCode.OK);
            var firstSend = sent.Min(s => s.SentAt);
            var achieved = count / Stopwatch.GetElapsedTime(firstSend, lastSend).TotalSeconds;
            Console.WriteLine($"welcome latency, {count:N0} callbacks at {rate:N0}/s target ({achieved:N0}/s achieved), {Environment.ProcessorCount} cores, host + stub + sender on one machine");
            Console.WriteLine($"  callbacks answered 200: {count - failed:N0}/{count:N0}; ack p50 {Percentile(acks, 0.50):N1} ms, p99 {Percentile(acks, 0.99):N1} ms");
            Console.WriteLine($"  welcomes received by the stub: {arrived:N0}/{count:N0} (last {drained.TotalSeconds:N1} s after the last callback)");
            if (latencies.Count > 0)
            {
                Console.WriteLine($"  callback → send_welcome_msg: p50 {Percentile(latencies, 0.50):N0} ms, p90 {Percentile(latencies, 0.90):N0} ms, p99 {Percentile(latencies, 0.99):N0} ms, max {latencies[^1]:N0} ms");
            }
            Console.WriteLine($"  goal p99 ≤ 1,000 ms: {(latencies.Count == count && Percentile(latencies, 0.99) <= 1000 ? "met" : "not met")}");
            return 0;
        }
        finally
        {
            if (!host.HasExited)
            {
                host.Kill(entireProcessTree: true);
                await host.WaitForExitAsync();
            }
            lock (hostOutput)
            {
                var errors = hostOutput.ToString().Split('\n').Where(l => l.Contains("fail:", StringComparison.Ordinal) || l.Contains("warn:", StringComparison.Ordinal)).ToArray();
                if (errors.Length > 0)
                {
                    Console.WriteLine($"  host logged {errors.Length} warnings/errors, first: {errors[0].Trim()}");
                }
            }
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            if (args.Contains("--keep"))
            {
                Console.WriteLine($"  database kept: {Path.Combine(folder, "bot.db")}");
            }
            else
            {
                Directory.Delete(folder, recursive: true);
            }
        }
    }

    private sealed record Sent(int Index, long SentAt, double AckMs, HttpStatusCode Status);

    /// <summary>Sends callbacks <paramref name="first"/>.. at <paramref name="rate"/>/s on a fixed schedule, not waiting for answers.</summary>
    private static async Task<List<Sent>> SendPacedAsync(HttpClient client, CallbackGenerator generator, int first, int count, double rate)
    {
        var now = DateTimeOffset.UtcNow;
        // Prepared before the clock starts so signing and encrypting do not eat into the send schedule.
        var requests = Enumerable.Range(first, count).Select(i => generator.Create(i, now)).ToArray();
        var tasks = new Task<Sent>[count];
        var origin = Stopwatch.GetTimestamp();
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(1));
        var next = 0;
        while (next < count)
        {
            var due = Math.Min(count, (int)(Stopwatch.GetElapsedTime(origin).TotalSeconds * rate) + 1);
            for (; next < due; next++)
            {
                tasks[next] = SendOneAsync(client, first + next, requests[next]);
            }
            if (next < count)
            {
                await timer.WaitForNextTickAsync();
            }
        }
        return [.. await Task.WhenAll(tasks)];
    }

    private static async Task<Sent> SendOneAsync(HttpClient client, int index, (string PathAndQuery, string Body) request)
    {
        await Task.Yield();
        var sentAt = Stopwatch.GetTimestamp();
        using var content = new StringContent(request.Body, Encoding.UTF8, "application/xml");
        using var response = await client.PostAsync(request.PathAndQuery, content);
        return new Sent(index, sentAt, Stopwatch.GetElapsedTime(sentAt).TotalMilliseconds, response.StatusCode);
    }

    private static async Task<int> WaitForWelcomesAsync(WeComStub stub, CallbackGenerator generator, int first, int count, TimeSpan timeout)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            var arrived = Enumerable.Range(first, count).Count(i => stub.WelcomeArrivals.ContainsKey(generator.WelcomeCode(i)));
            if (arrived == count || Stopwatch.GetTimestamp() > deadline)
            {
                return arrived;
            }
            await Task.Delay(100);
        }
    }

    private static async Task WaitHealthyAsync(HttpClient client, Process host)
    {
        var deadline = Stopwatch.GetTimestamp() + 60 * Stopwatch.Frequency;
        while (Stopwatch.GetTimestamp() < deadline && !host.HasExited)
        {
            try
            {
                using var response = await client.GetAsync("/healthz");
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            await Task.Delay(200);
        }
        throw new InvalidOperationException("the host did not become healthy");
    }

    private static double Percentile(IReadOnlyList<double> sorted, double p) =>
        sorted.Count == 0 ? double.NaN : sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];

    private static string? StringArg(string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    private static double DoubleArg(string[] args, string name, double fallback)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length && double.TryParse(args[i + 1], CultureInfo.InvariantCulture, out var value) ? value : fallback;
    }

    /// <summary>--host PATH, else the Release (or Debug) build of Bot.Host in the repository this bench runs from.</summary>
    private static string HostDll(string[] args)
    {
        var i = Array.IndexOf(args, "--host");
        if (i >= 0 && i + 1 < args.Length)
        {
            return Path.GetFullPath(args[i + 1]);
        }
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "WeComBot.sln")))
            {
                foreach (var configuration in new[] { "Release", "Debug" })
                {
                    var dll = Path.Combine(dir.FullName, "Bot.Host", "bin", configuration, "net10.0", "Bot.Host.dll");
                    if (File.Exists(dll))
                    {
                        return dll;
                    }
                }
            }
        }
        throw new InvalidOperationException("Bot.Host.dll not found; build Bot.Host -c Release or pass --host PATH.");
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
