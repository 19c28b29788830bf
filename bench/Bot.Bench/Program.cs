// Benchmark entry point: `dotnet run -c Release --project bench/Bot.Bench -- <suite>`.
Console.WriteLine("usage: Bot.Bench <suite>");
return 0;
