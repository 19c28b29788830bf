// Benchmark entry point: `bench/run.sh SUITE [args]`, or `dotnet bench/Bot.Bench/bin/Release/net10.0/Bot.Bench.dll SUITE`.
using BenchmarkDotNet.Running;
using Bot.Bench;

const string Usage = """
    usage: Bot.Bench SUITE [args]
      callbacks-gen FILE N      write N signed, encrypted 'contact added' callbacks ("path?query<TAB>body" a line),
                                identity from WeCom__CorpId/AgentId/Token/EncodingAesKey (alias: gen-callbacks)
      bare-endpoint --urls URL  Kestrel answering "success" on any path, and an instant WeCom stub on /cgi-bin/*
      crypto [BDN args]         BenchmarkDotNet: verify + decrypt + parse of one callback, and each step alone
      inbox [N]                 inbox group commit vs one transaction per entry, 64 concurrent writers (N=50000)
      apiclient [BDN args]      BenchmarkDotNet: WeComApiClient call vs raw HttpClient against a local stub
      limiter [seconds]         Redis limiter vs redis-benchmark on the same script; in-process decisions/s
      broadcast [--groups N --limit L --window-seconds W]
                                broadcast duration vs the quota-bound minimum
      keywords                  keyword matching vs RulesEngine at 100 / 1,000 / 10,000 rules
      welcome-latency [--rate R --seconds S --warmup N --host PATH]
                                callback → send_welcome_msg latency through the real host (child process)
    The full callback path under wrk: bench/run.sh callbacks [seconds] [connections] (bench/run-callbacks.sh).
    """;

if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
{
    Console.WriteLine(Usage);
    return args.Length == 0 ? 2 : 0;
}

var rest = args[1..];
switch (args[0])
{
    case "callbacks-gen" or "gen-callbacks":
        return await CallbackGenerator.WriteFileAsync(rest);
    case "bare-endpoint":
        await using (var stub = await WeComStub.StartAsync(rest, recordWelcomes: false, CancellationToken.None))
        {
            Console.Error.WriteLine($"bare endpoint listening on {stub.Url}");
            await stub.WaitForShutdownAsync(CancellationToken.None);
        }
        return 0;
    case "crypto":
        BenchmarkSwitcher.FromTypes([typeof(CallbackCryptoBench)]).Run(rest);
        return 0;
    case "inbox":
        await InboxWriterBench.RunAsync(rest);
        return 0;
    case "apiclient":
        await ApiClientBench.RunAsync(rest);
        return 0;
    case "limiter":
        await LimiterBench.RunAsync(rest);
        return 0;
    case "broadcast":
        await BroadcastBench.RunAsync(rest);
        return 0;
    case "keywords":
        await KeywordBench.RunAsync(Console.Out);
        return 0;
    case "welcome-latency":
        return await WelcomeLatencyBench.RunAsync(rest);
    default:
        Console.Error.WriteLine($"unknown suite '{args[0]}'");
        Console.Error.WriteLine(Usage);
        return 2;
}
