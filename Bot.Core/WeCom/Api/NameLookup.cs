using Microsoft.Extensions.Logging;

namespace Bot.Core.WeCom.Api;

/// <summary>
/// Looks a display name up through the directory, falling back when WeCom cannot give it. A message without a name
/// beats no message, so every failure of the lookup WeCom can cause (a refusal, a lost answer, a lookup over its time
/// budget) falls back and is logged; only cancellation of the caller's own work propagates.
/// </summary>
public sealed partial class NameLookup(ILogger<NameLookup> logger)
{
    /// <param name="lookup">The call; it is given <paramref name="ct"/>, or a token that also ends with a time budget.</param>
    /// <param name="budget">The budget that token ends with, for the log; null when there is none.</param>
    public async Task<string> NameOrAsync<T>(Func<Task<T>> lookup, Func<T, string> name, string fallback, CancellationToken ct, TimeSpan? budget = null)
    {
        try
        {
            return name(await lookup());
        }
        catch (WeComApiException ex)
        {
            Log.Unavailable(logger, ex.Api, ex.ErrCode, fallback);
        }
        catch (WeComOutcomeUnknownException ex)
        {
            Log.Unavailable(logger, ex.Api, WeComErrorCodes.HttpFailure, fallback);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested && budget is { } spent)
        {
            Log.OverBudget(logger, spent.TotalMilliseconds, fallback);
        }
        return fallback;
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "A name could not be fetched ({Api} errcode {ErrCode}); '{Fallback}' stands in for it")]
        public static partial void Unavailable(ILogger logger, string api, int errCode, string fallback);

        [LoggerMessage(2, LogLevel.Warning, "A name took longer than its {BudgetMs} ms budget; '{Fallback}' stands in for it")]
        public static partial void OverBudget(ILogger logger, double budgetMs, string fallback);
    }
}
