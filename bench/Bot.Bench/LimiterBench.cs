using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Bot.Core.RateLimiting;
using Bot.Core.Redis;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Bot.Bench;

/// <summary>
/// Quota limiter throughput: (a) RedisQuotaLimiter from many concurrent tasks against redis-benchmark driving the same
/// Lua script on the same key of a private redis-server; (b) the in-process limiter on one thread.
/// Usage: limiter [seconds per phase, default 5].
/// </summary>
public static partial class LimiterBench
{
    private const int Concurrency = 50;

    public static async Task RunAsync(string[] args)
    {
        var seconds = args.Select(a => int.TryParse(a, CultureInfo.InvariantCulture, out var s) ? s : 0).FirstOrDefault(s => s > 0);
        var phase = TimeSpan.FromSeconds(seconds > 0 ? seconds : 5);
        await RunRedisAsync(phase);
        await RunInProcessAsync(phase);
    }

    private static async Task RunRedisAsync(TimeSpan phase)
    {
        var port = FreePort();
        using var server = Process.Start(new ProcessStartInfo("redis-server",
            ["--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        {
            RedirectStandardOutput = true,
            UseShellExecute = false,
        }) ?? throw new InvalidOperationException("redis-server did not start");
        server.OutputDataReceived += static (_, _) => { };
        server.BeginOutputReadLine();
        try
        {
            await WaitForPortAsync(port);
            var configuration = $"127.0.0.1:{port}";
            await using var connection = await ConnectionMultiplexer.ConnectAsync(configuration);
            var redisOptions = new RedisOptions { Configuration = configuration, KeyPrefix = "bench:" };
            var limiter = new RedisQuotaLimiter(connection, Options.Create(redisOptions), Options.Create(new QuotaOptions()),
                TimeProvider.System, NullLogger<RedisQuotaLimiter>.Instance);
            QuotaLimit[] limits = [new(new QuotaKey(QuotaRules.ApiPerMinute, "bench/api"), int.MaxValue, TimeSpan.FromMinutes(1))];

            await DriveAsync(limiter, limits, TimeSpan.FromSeconds(1)); // warm-up: JIT, script load, connection
            var (ours, allowed) = await DriveAsync(limiter, limits, phase);

            // redis-benchmark sends the very same EVALSHA on the same key, with a "now" inside our run's last bucket,
            // so the script reads the same hash the limiter's last calls read.
            var loaded = await RedisQuotaLimiter.AcquireScript.LoadAsync(connection.GetServer(connection.GetEndPoints()[0]));
            var (keys, values) = limiter.ScriptArguments(limits, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
            var requests = Math.Max(10_000, (int)(ours * phase.TotalSeconds));
            var theirs = await RedisBenchmarkAsync(port, Convert.ToHexStringLower(loaded.Hash), keys, values, requests);

            Console.WriteLine($"(a) RedisQuotaLimiter, {Concurrency} concurrent tasks: {ours,12:N0} decisions/s ({allowed:N0} allowed)");
            Console.WriteLine($"    redis-benchmark -c {Concurrency} EVALSHA, same script:  {theirs,12:N0} requests/s");
            Console.WriteLine($"    ratio: {ours / theirs:P0} (goal >= 50%)");
        }
        finally
        {
            server.Kill(entireProcessTree: true);
            await server.WaitForExitAsync();
        }
    }

    private static async Task<(double PerSecond, long Allowed)> DriveAsync(IQuotaLimiter limiter, QuotaLimit[] limits, TimeSpan duration)
    {
        long decisions = 0, allowed = 0;
        var stopwatch = Stopwatch.StartNew();
        var workers = new Task[Concurrency];
        for (var i = 0; i < workers.Length; i++)
        {
            workers[i] = Task.Run(async () =>
            {
                long mine = 0, mineAllowed = 0;
                while (stopwatch.Elapsed < duration)
                {
                    var decision = await limiter.TryAcquireAsync(limits, CancellationToken.None);
                    mine++;
                    mineAllowed += decision.IsAllowed ? 1 : 0;
                }
                Interlocked.Add(ref decisions, mine);
                Interlocked.Add(ref allowed, mineAllowed);
            });
        }
        await Task.WhenAll(workers);
        return (decisions / stopwatch.Elapsed.TotalSeconds, allowed);
    }

    private static async Task<double> RedisBenchmarkAsync(int port, string sha, RedisKey[] keys, RedisValue[] values, int requests)
    {
        var start = new ProcessStartInfo("redis-benchmark") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { "-p", port.ToString(CultureInfo.InvariantCulture), "-n", requests.ToString(CultureInfo.InvariantCulture),
                     "-c", Concurrency.ToString(CultureInfo.InvariantCulture), "-q", "EVALSHA", sha, keys.Length.ToString(CultureInfo.InvariantCulture) })
        {
            start.ArgumentList.Add(arg);
        }
        foreach (var key in keys)
        {
            start.ArgumentList.Add(key.ToString());
        }
        foreach (var value in values)
        {
            start.ArgumentList.Add(value.ToString());
        }
        using var process = Process.Start(start) ?? throw new InvalidOperationException("redis-benchmark did not start");
        var stderr = process.StandardError.ReadToEndAsync();
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        var matches = RequestsPerSecond().Matches(output);
        if (matches.Count == 0)
        {
            throw new InvalidOperationException($"redis-benchmark printed no rate: {output} {await stderr}");
        }
        return double.Parse(matches[^1].Groups[1].Value, CultureInfo.InvariantCulture);
    }

    private static async Task RunInProcessAsync(TimeSpan phase)
    {
        using var limiter = new InProcessQuotaLimiter(Options.Create(new QuotaOptions()), TimeProvider.System);
        QuotaLimit[] single = [new(new QuotaKey(QuotaRules.ApiPerMinute, "bench/api"), int.MaxValue, TimeSpan.FromMinutes(1))];
        var catalog = new QuotaCatalog();
        var groupSend = catalog.LimitsFor(new QuotaSubject(QuotaRules.AddMsgTemplate, Sender: "bench", ChatIds: ["wrBench"]))
            .Select(static l => l with { Limit = int.MaxValue })
            .ToArray();

        await MeasureAsync(limiter, single, TimeSpan.FromSeconds(1)); // warm-up
        var (perSecond, bytes) = await MeasureAsync(limiter, single, phase);
        Console.WriteLine($"(b) InProcessQuotaLimiter, 1 thread, 1 limit:  {perSecond,12:N0} decisions/s, {bytes:N2} bytes allocated/decision (goal >= 5,000,000/s)");
        var (groupPerSecond, groupBytes) = await MeasureAsync(limiter, groupSend, phase);
        Console.WriteLine($"    same, {groupSend.Length} limits (group mass message): {groupPerSecond,12:N0} decisions/s, {groupBytes:N2} bytes/decision");
    }

    private static async Task<(double PerSecond, double BytesPerDecision)> MeasureAsync(IQuotaLimiter limiter, QuotaLimit[] limits, TimeSpan duration)
    {
        long decisions = 0;
        var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        var stopwatch = Stopwatch.StartNew();
        while (stopwatch.Elapsed < duration)
        {
            // Checking the clock every 1024 decisions keeps the stopwatch out of the measurement.
            for (var i = 0; i < 1024; i++)
            {
                // Completes synchronously, so the await neither suspends nor allocates.
                await limiter.TryAcquireAsync(limits, CancellationToken.None);
            }
            decisions += 1024;
        }
        var elapsed = stopwatch.Elapsed.TotalSeconds;
        var allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
        return (decisions / elapsed, (double)allocated / decisions);
    }

    private static async Task WaitForPortAsync(int port)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException) when (deadline.Elapsed < TimeSpan.FromSeconds(10))
            {
                // redis-server takes a few milliseconds to listen.
                await Task.Delay(20);
            }
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [GeneratedRegex(@"([0-9.]+) requests per second")]
    private static partial Regex RequestsPerSecond();
}
