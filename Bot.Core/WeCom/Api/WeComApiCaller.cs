using Bot.Core.Observability;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.Extensions.Logging;
using Polly.CircuitBreaker;
using Polly.Timeout;

namespace Bot.Core.WeCom.Api;

/// <summary>
/// The one funnel every WeCom call goes through: resilience pipeline → (token) → HTTP → parse {errcode, errmsg} →
/// typed reply or exception. Logs, traces and metrics name the API, errcode and latency, never the URL: its query
/// carries the access token, the corp secret (gettoken) or the robot key (webhook).
/// </summary>
internal sealed partial class WeComApiCaller(
    WeComApiResilience resilience,
    BotMetrics metrics,
    WeComApiHealth health,
    TimeProvider timeProvider,
    ILogger<WeComApiCaller> logger)
{
    public const string ActivitySourceName = "WeComBot.WeComApi";
    private static readonly ActivitySource Activities = new(ActivitySourceName);
    private static readonly MediaTypeHeaderValue Json = new("application/json") { CharSet = "utf-8" };

    /// <summary>Calls <paramref name="api"/>. With <paramref name="tokens"/>, appends access_token and refreshes it once on 40014/42001/41001.</summary>
    public async Task<TReply> CallAsync<TReply>(
        HttpClient http,
        WeComApi api,
        string relativeUrl,
        byte[]? body,
        JsonTypeInfo<TReply> replyType,
        AccessTokenCache? tokens,
        CancellationToken cancellationToken)
        where TReply : WeComReply
    {
        using var activity = Activities.StartActivity("wecom " + api.Name, ActivityKind.Client);
        activity?.SetTag("wecom.api", api.Name);
        var state = new Attempt<TReply>(this, http, api, relativeUrl, body, replyType, tokens);
        if (tokens is not null)
        {
            // Taken before the pipeline so a slow refresh never counts against (or times out) the attempt itself.
            state.Token = await tokens.GetAsync(cancellationToken).ConfigureAwait(false);
        }
        var started = timeProvider.GetTimestamp();
        try
        {
            var reply = await resilience.For(api)
                .ExecuteAsync(static (s, ct) => s.RunAsync(ct), state, cancellationToken)
                .ConfigureAwait(false);
            health.RecordSuccess(api.Name);
            activity?.SetTag("wecom.errcode", 0);
            return reply;
        }
        catch (TimeoutRejectedException e) when (!cancellationToken.IsCancellationRequested)
        {
            activity?.SetTag("wecom.errcode", WeComErrorCodes.Timeout);
            if (!api.SafeToRepeat && state.Sent)
            {
                Log.OutcomeUnknown(logger, api.Name, timeProvider.GetElapsedTime(started).TotalMilliseconds);
                throw new WeComOutcomeUnknownException(api.Name, e);
            }
            Log.Failed(logger, api.Name, WeComErrorCodes.Timeout, WeComErrorClass.Transient, timeProvider.GetElapsedTime(started).TotalMilliseconds);
            throw new WeComApiException(api.Name, WeComErrorCodes.Timeout, "attempt timed out", e);
        }
        catch (BrokenCircuitException e)
        {
            activity?.SetTag("wecom.errcode", WeComErrorCodes.CircuitOpen);
            Log.CircuitOpen(logger, api.Name);
            throw new WeComApiException(api.Name, WeComErrorCodes.CircuitOpen, "circuit open", e, e.RetryAfter);
        }
        catch (WeComOutcomeUnknownException)
        {
            activity?.SetTag("wecom.errcode", WeComErrorCodes.HttpFailure);
            Log.OutcomeUnknown(logger, api.Name, timeProvider.GetElapsedTime(started).TotalMilliseconds);
            throw;
        }
        catch (WeComApiException e)
        {
            activity?.SetTag("wecom.errcode", e.ErrCode);
            var elapsedMs = timeProvider.GetElapsedTime(started).TotalMilliseconds;
            if (e.Class == WeComErrorClass.Configuration)
            {
                health.RecordConfigurationError(api.Name, e.ErrCode, timeProvider.GetUtcNow());
                Log.Misconfigured(logger, api.Name, e.ErrCode, e.ErrMsg);
            }
            else if (e.Class == WeComErrorClass.Permanent)
            {
                Log.Refused(logger, api.Name, e.ErrCode, e.ErrMsg);
            }
            else
            {
                Log.Failed(logger, api.Name, e.ErrCode, e.Class, elapsedMs);
            }
            throw;
        }
    }

    private async Task<TReply> SendOnceAsync<TReply>(Attempt<TReply> state, CancellationToken cancellationToken)
        where TReply : WeComReply
    {
        var api = state.Api;
        var url = state.Token is null
            ? state.RelativeUrl
            : string.Concat(state.RelativeUrl, state.RelativeUrl.Contains('?') ? "&access_token=" : "?access_token=", state.Token.Value);
        using var request = new HttpRequestMessage(state.Body is null ? HttpMethod.Get : HttpMethod.Post, url);
        if (state.Body is not null)
        {
            request.Content = new ByteArrayContent(state.Body) { Headers = { ContentType = Json } };
        }
        var started = timeProvider.GetTimestamp();
        int errCode = WeComErrorCodes.HttpFailure;
        try
        {
            HttpResponseMessage response;
            try
            {
                state.Sent = true;
                response = await state.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            }
            catch (HttpRequestException e) when (NothingWasSent(e))
            {
                state.Sent = false;
                errCode = WeComErrorCodes.ConnectionFailed;
                throw new WeComApiException(api.Name, errCode, "connection failed: " + e.HttpRequestError, e);
            }
            using (response)
            {
                var status = (int)response.StatusCode;
                if (status >= 500)
                {
                    throw Ambiguous(api, "HTTP " + status, inner: null);
                }
                if (!response.IsSuccessStatusCode)
                {
                    errCode = WeComErrorCodes.HttpRejected;
                    throw new WeComApiException(api.Name, errCode, "HTTP " + status);
                }
                TReply? reply;
                try
                {
                    var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
                    await using (stream.ConfigureAwait(false))
                    {
                        reply = await JsonSerializer.DeserializeAsync(stream, state.ReplyType, cancellationToken).ConfigureAwait(false);
                    }
                }
                catch (JsonException e)
                {
                    throw Ambiguous(api, "reply is not WeCom JSON", e);
                }
                if (reply is null)
                {
                    throw Ambiguous(api, "empty reply", inner: null);
                }
                errCode = reply.ErrCode;
                if (errCode != WeComErrorCodes.Ok)
                {
                    var answered = new WeComApiException(api.Name, errCode, reply.ErrMsg ?? "");
                    // WeCom can answer -1 after it applied the call, so for a call that is not safe to repeat the
                    // outcome is in doubt: resending could make a second task or message. It is reconciled instead.
                    if (errCode == WeComErrorCodes.SystemBusy && !api.SafeToRepeat)
                    {
                        throw new WeComOutcomeUnknownException(api.Name, answered);
                    }
                    throw answered;
                }
                return reply;
            }
        }
        catch (HttpRequestException e)
        {
            // The request may have reached WeCom before the connection broke.
            throw Ambiguous(api, "connection broke: " + e.HttpRequestError, e);
        }
        catch (OperationCanceledException)
        {
            errCode = WeComErrorCodes.Timeout;
            throw;
        }
        finally
        {
            var elapsed = timeProvider.GetElapsedTime(started);
            metrics.WeComAttempt(api.Name, errCode, elapsed);
            Log.Attempt(logger, api.Name, errCode, elapsed.TotalMilliseconds);
        }
    }

    private void LogTokenRejected(string api, int errCode, long generation) => Log.TokenRejected(logger, api, errCode, generation);

    private static Exception Ambiguous(WeComApi api, string reason, Exception? inner) => api.SafeToRepeat
        ? new WeComApiException(api.Name, WeComErrorCodes.HttpFailure, reason, inner)
        : new WeComOutcomeUnknownException(api.Name, inner);

    // Failures while connecting mean the request never left this process, so even a non-repeatable call may be retried.
    private static bool NothingWasSent(HttpRequestException e) => e.HttpRequestError is
        HttpRequestError.NameResolutionError or HttpRequestError.ConnectionError or
        HttpRequestError.SecureConnectionError or HttpRequestError.ProxyTunnelError;

    private sealed class Attempt<TReply>(
        WeComApiCaller caller,
        HttpClient http,
        WeComApi api,
        string relativeUrl,
        byte[]? body,
        JsonTypeInfo<TReply> replyType,
        AccessTokenCache? tokens)
        where TReply : WeComReply
    {
        private bool _tokenRefreshed;

        public HttpClient Http => http;
        public WeComApi Api => api;
        public string RelativeUrl => relativeUrl;
        public byte[]? Body => body;
        public JsonTypeInfo<TReply> ReplyType => replyType;
        public AccessToken? Token { get; set; }

        /// <summary>Whether the current attempt's request may have reached WeCom.</summary>
        public bool Sent { get; set; }

        public async ValueTask<TReply> RunAsync(CancellationToken cancellationToken)
        {
            Sent = false;
            try
            {
                return await caller.SendOnceAsync(this, cancellationToken).ConfigureAwait(false);
            }
            catch (WeComApiException e) when (e.Class == WeComErrorClass.TokenInvalid && tokens is not null && Token is not null && !_tokenRefreshed)
            {
                // WeCom refused the token before doing anything, so a retry with a fresh one is safe for every API.
                _tokenRefreshed = true;
                caller.LogTokenRejected(api.Name, e.ErrCode, Token.Generation);
                await tokens.InvalidateAsync(Token, cancellationToken).ConfigureAwait(false);
                Token = await tokens.GetAsync(cancellationToken).ConfigureAwait(false);
                Sent = false;
                return await caller.SendOnceAsync(this, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "WeCom {Api} answered errcode {ErrCode} in {ElapsedMs:F1} ms")]
        public static partial void Attempt(ILogger logger, string api, int errCode, double elapsedMs);

        [LoggerMessage(2, LogLevel.Warning, "WeCom {Api} failed with errcode {ErrCode} ({ErrorClass}) after {ElapsedMs:F0} ms")]
        public static partial void Failed(ILogger logger, string api, int errCode, WeComErrorClass errorClass, double elapsedMs);

        [LoggerMessage(3, LogLevel.Error, "WeCom {Api} refused this app's configuration: errcode {ErrCode} ({ErrMsg}). Fix the app's secret, permissions or visible range; retrying cannot help")]
        public static partial void Misconfigured(ILogger logger, string api, int errCode, string errMsg);

        [LoggerMessage(4, LogLevel.Information, "WeCom {Api} refused the request: errcode {ErrCode} ({ErrMsg})")]
        public static partial void Refused(ILogger logger, string api, int errCode, string errMsg);

        [LoggerMessage(5, LogLevel.Warning, "WeCom {Api} was sent but its outcome is unknown after {ElapsedMs:F0} ms; not retried")]
        public static partial void OutcomeUnknown(ILogger logger, string api, double elapsedMs);

        [LoggerMessage(6, LogLevel.Warning, "WeCom {Api} circuit is open; call refused without sending")]
        public static partial void CircuitOpen(ILogger logger, string api);

        [LoggerMessage(7, LogLevel.Information, "WeCom {Api} rejected access token generation {Generation} with errcode {ErrCode}; refreshing and retrying once")]
        public static partial void TokenRejected(ILogger logger, string api, int errCode, long generation);
    }
}
