using System.Buffers;
using Bot.Core.Inbox;
using Bot.Core.Observability;
using Bot.Core.WeCom;
using Bot.Core.WeCom.Callbacks;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace Bot.Host.WeCom;

/// <summary>
/// WeCom's callback URLs. The order is fixed: size cap → signature → timestamp → decrypt → receiveId → parse →
/// store → 200 with an empty body (a self-built app's acknowledgement). Nothing is acknowledged before it is stored,
/// and a refused callback leaves no trace but a log line and a counter.
/// </summary>
public static partial class WeComCallbackEndpoints
{
    public const string AppCallbackPath = "/wecom/callback";
    public const string RobotCallbackPath = "/wecom/bot/callback";

    public static IEndpointRouteBuilder MapWeComCallback(this IEndpointRouteBuilder app)
    {
        app.MapGet(AppCallbackPath, VerifyAppUrl);
        app.MapPost(AppCallbackPath, (HttpContext http, CallbackVerifier verifier, InboxWriter inbox, BotMetrics metrics, TimeProvider time, IOptions<WeComOptions> options, ILoggerFactory loggers, CancellationToken ct) =>
            ReceiveAsync(http, static (v, s, t, n, b) => v.VerifyXml(s, t, n, b), verifier, inbox, metrics, time, options, loggers, ct));
        app.MapGet(RobotCallbackPath, VerifyRobotUrl);
        app.MapPost(RobotCallbackPath, (HttpContext http, CallbackVerifier verifier, InboxWriter inbox, BotMetrics metrics, TimeProvider time, IOptions<WeComOptions> options, ILoggerFactory loggers, CancellationToken ct) =>
            ReceiveAsync(http, static (v, s, t, n, b) => v.VerifyRobotJson(s, t, n, b), verifier, inbox, metrics, time, options, loggers, ct));
        return app;
    }

    // ASP.NET has already percent-decoded the query once; decoding again would turn a '+' in echostr into a space.
    private static IResult VerifyAppUrl(
        [FromQuery(Name = "msg_signature")] string? signature, string? timestamp, string? nonce, string? echostr,
        CallbackVerifier verifier, BotMetrics metrics, ILoggerFactory loggers) =>
        Echo(verifier.VerifyUrl(signature, timestamp, nonce, echostr), metrics, loggers);

    private static IResult VerifyRobotUrl(
        [FromQuery(Name = "msg_signature")] string? signature, string? timestamp, string? nonce, string? echostr,
        CallbackVerifier verifier, BotMetrics metrics, ILoggerFactory loggers) =>
        Echo(verifier.VerifyRobotUrl(signature, timestamp, nonce, echostr), metrics, loggers);

    private static IResult Echo(CallbackVerification result, BotMetrics metrics, ILoggerFactory loggers)
    {
        if (!result.IsValid)
        {
            return Refuse(result.Rejection, metrics, loggers);
        }
        // The bare plaintext: no quotes, BOM or newline (WeCom compares it byte for byte).
        return Results.Text(result.Plaintext!, "text/plain; charset=utf-8");
    }

    private delegate CallbackVerification Verify(CallbackVerifier verifier, string? signature, string? timestamp, string? nonce, ReadOnlyMemory<byte> body);

    private static async Task<IResult> ReceiveAsync(
        HttpContext http, Verify verify, CallbackVerifier verifier, InboxWriter inbox, BotMetrics metrics, TimeProvider time,
        IOptions<WeComOptions> options, ILoggerFactory loggers, CancellationToken ct)
    {
        var max = options.Value.MaxCallbackBodyBytes;
        var body = await ReadCappedAsync(http, max, ct);
        if (body is null)
        {
            return Refuse(CallbackRejection.BodyTooLarge, metrics, loggers);
        }
        var query = http.Request.Query;
        var result = verify(verifier, query["msg_signature"], query["timestamp"], query["nonce"], body.Value);
        if (!result.IsValid || result.Callback is not { } callback)
        {
            return Refuse(result.IsValid ? CallbackRejection.MalformedXml : result.Rejection, metrics, loggers);
        }
        try
        {
            // Completes only once the row is committed (group commit); a WeCom retry comes back as Duplicate.
            await inbox.AppendAsync(new InboxEntry(callback.DedupeKey, callback.Kind, time.GetUtcNow(), result.Plaintext!), ct);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Not stored, so not acknowledged: WeCom retries.
            Log.StoreFailed(loggers.CreateLogger(typeof(WeComCallbackEndpoints)), callback.Kind, ex);
            return Results.StatusCode(StatusCodes.Status503ServiceUnavailable);
        }
        metrics.CallbackReceived(callback.Kind);
        return Results.Ok();
    }

    /// <summary>Reads the body into a pooled buffer, or returns null as soon as it exceeds <paramref name="max"/> bytes.</summary>
    private static async Task<ReadOnlyMemory<byte>?> ReadCappedAsync(HttpContext http, int max, CancellationToken ct)
    {
        if (http.Request.ContentLength > max)
        {
            return null;
        }
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = max + 1L;
        }
        var buffer = new ArrayBufferWriter<byte>(http.Request.ContentLength is > 0 and var length ? (int)length : 4096);
        try
        {
            while (true)
            {
                var memory = buffer.GetMemory(4096);
                var read = await http.Request.Body.ReadAsync(memory, ct);
                if (read == 0)
                {
                    return buffer.WrittenMemory;
                }
                buffer.Advance(read);
                if (buffer.WrittenCount > max)
                {
                    return null;
                }
            }
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return null;
        }
    }

    private static IResult Refuse(CallbackRejection rejection, BotMetrics metrics, ILoggerFactory loggers)
    {
        metrics.CallbackRejected(rejection.ToString());
        Log.Refused(loggers.CreateLogger(typeof(WeComCallbackEndpoints)), rejection);
        // WeCom reads no body: a bare status code.
        return Results.StatusCode(rejection.StatusCode());
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "WeCom callback refused: {Reason}")]
        public static partial void Refused(ILogger logger, CallbackRejection reason);

        [LoggerMessage(2, LogLevel.Error, "WeCom callback of kind {Kind} could not be stored; answered 503 so WeCom retries")]
        public static partial void StoreFailed(ILogger logger, string kind, Exception exception);
    }
}
