using Bot.Core.Observability;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Bot.Core.WeCom.Api;

/// <summary>Calls gettoken. The URL carries the corp secret, so it goes only through <see cref="WeComApiCaller"/>, which never logs URLs.</summary>
internal sealed partial class AccessTokenFetcher(
    IHttpClientFactory httpClientFactory,
    WeComApiCaller caller,
    IOptions<WeComOptions> weComOptions,
    IOptions<WeComApiOptions> apiOptions,
    BotMetrics metrics,
    TimeProvider timeProvider,
    ILogger<AccessTokenFetcher> logger)
{
    /// <summary>A token with generation 0; the store numbers it.</summary>
    public async Task<AccessToken> FetchAsync(CancellationToken cancellationToken)
    {
        var wecom = weComOptions.Value;
        var url = $"gettoken?corpid={Uri.EscapeDataString(wecom.CorpId)}&corpsecret={Uri.EscapeDataString(wecom.Secret)}";
        var http = httpClientFactory.CreateClient(WeComApiClient.HttpClientName);
        AccessTokenReply reply;
        try
        {
            reply = await caller.CallAsync(http, WeComApis.GetToken, url, body: null, WeComJsonContext.Wire.AccessTokenReply, tokens: null, cancellationToken)
                .ConfigureAwait(false);
        }
        catch (Exception e) when (e is WeComApiException or WeComOutcomeUnknownException)
        {
            metrics.TokenRefreshed("failed");
            throw;
        }
        if (string.IsNullOrEmpty(reply.AccessToken) || reply.ExpiresIn <= 0)
        {
            metrics.TokenRefreshed("failed");
            throw new WeComApiException(WeComApis.GetToken.Name, WeComErrorCodes.HttpFailure, "gettoken answered without a token");
        }
        metrics.TokenRefreshed("fetched");
        var now = timeProvider.GetUtcNow();
        var lifetime = TimeSpan.FromSeconds(reply.ExpiresIn);
        // A margin larger than the lifetime WeCom grants would make every token stale at birth; refresh at half-life then.
        var margin = apiOptions.Value.TokenExpiryMargin;
        var refreshAfter = margin < lifetime ? lifetime - margin : lifetime / 2;
        Log.Fetched(logger, reply.ExpiresIn);
        return new AccessToken(reply.AccessToken, 0, now + refreshAfter, now + lifetime);
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Fetched a new WeCom access token valid for {ExpiresInSeconds} s")]
        public static partial void Fetched(ILogger logger, int expiresInSeconds);
    }
}
