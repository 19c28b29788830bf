namespace Bot.Core.WeCom.Api;

/// <summary>How a failed WeCom call should be treated by whoever made it.</summary>
public enum WeComErrorClass
{
    /// <summary>The access token was rejected; the client refreshes it and retries once by itself.</summary>
    TokenInvalid,

    /// <summary>A frequency (45009) or concurrency (45033) limit; pause for <see cref="WeComApiException.RetryAfter"/>.</summary>
    RateLimited,

    /// <summary>Worth trying again later: system busy, HTTP 5xx, timeouts, connection errors, an open circuit.</summary>
    Transient,

    /// <summary>Our setup is wrong (secret, app permissions, visible range). Retrying cannot help; an operator must act.</summary>
    Configuration,

    /// <summary>This request will never succeed as sent (bad parameter, customer already chatting, relationship gone).</summary>
    Permanent,
}

/// <summary>
/// WeCom server error codes the product handles by name (shared/wecom/FACTS.md §7), plus a few local codes
/// (≤ -1000) for failures that never reached a WeCom answer.
/// </summary>
public static class WeComErrorCodes
{
    /// <summary>System busy; WeCom advises at most 3 retries.</summary>
    public const int SystemBusy = -1;
    public const int Ok = 0;
    /// <summary>Invalid secret (gettoken): configuration, alert an operator.</summary>
    public const int InvalidSecret = 40001;
    /// <summary>Invalid CorpID.</summary>
    public const int InvalidCorpId = 40013;
    /// <summary>Invalid access_token; expired tokens sometimes come back as this instead of 42001.</summary>
    public const int InvalidAccessToken = 40014;
    /// <summary>Invalid parameter.</summary>
    public const int InvalidParameter = 40058;
    /// <summary>Invalid external userid.</summary>
    public const int InvalidExternalUserId = 40096;
    /// <summary>access_token missing from the request.</summary>
    public const int MissingAccessToken = 41001;
    /// <summary>add_corp_tag: a tag of that name already exists in the group (标签名已存在); re-read the tag list for its id.</summary>
    public const int TagNameExists = 40071;
    /// <summary>The customer has started chatting: the welcome was already delivered, never retry.</summary>
    public const int CustomerAlreadyChatting = 41051;
    /// <summary>Another app is sending the welcome; may be retried while the 20 s welcome window lasts.</summary>
    public const int WelcomeBeingSent = 41096;
    /// <summary>access_token expired.</summary>
    public const int AccessTokenExpired = 42001;
    /// <summary>
    /// API frequency over limit: WeCom blocks the API for the window of the limit hit, 60 s for a minute limit and
    /// 60 min for an hour limit (doc 90454); the errmsg does not say which, so the caller tells them apart by its own counters.
    /// </summary>
    public const int FrequencyLimited = 45009;
    /// <summary>Too many concurrent calls of one API; back off briefly with jitter.</summary>
    public const int ConcurrencyLimited = 45033;
    /// <summary>This app may not call this API (not in「可调用接口的应用」).</summary>
    public const int ApiForbidden = 48002;
    /// <summary>Member/department/tag outside the app's visible range.</summary>
    public const int OutsideVisibleRange = 60011;
    /// <summary>The customer no longer has a relationship with the member.</summary>
    public const int RelationshipGone = 84061;
    /// <summary>The app lacks customer-contact permission.</summary>
    public const int NoExternalContactPermission = 84074;

    /// <summary>
    /// Group-robot webhook: the key is invalid or the robot was removed from the group (official error table, quoted in
    /// go-workwx errcodes/mod.go; FACTS §5.11, §7). A configuration problem: alarm an operator, do not retry.
    /// </summary>
    public const int RobotWebhookInvalid = 93000;

    /// <summary>Local: HTTP 5xx, or a reply that was not WeCom JSON.</summary>
    public const int HttpFailure = -1001;
    /// <summary>Local: the attempt timed out before WeCom answered.</summary>
    public const int Timeout = -1002;
    /// <summary>Local: the connection failed.</summary>
    public const int ConnectionFailed = -1003;
    /// <summary>Local: the circuit breaker for this API is open; nothing was sent.</summary>
    public const int CircuitOpen = -1004;
    /// <summary>Local: HTTP 4xx (wrong path or method); permanent.</summary>
    public const int HttpRejected = -1005;

    public static WeComErrorClass Classify(int errCode) => errCode switch
    {
        InvalidAccessToken or AccessTokenExpired or MissingAccessToken => WeComErrorClass.TokenInvalid,
        FrequencyLimited or ConcurrencyLimited => WeComErrorClass.RateLimited,
        SystemBusy or WelcomeBeingSent or HttpFailure or Timeout or ConnectionFailed or CircuitOpen => WeComErrorClass.Transient,
        InvalidSecret or ApiForbidden or OutsideVisibleRange or NoExternalContactPermission or RobotWebhookInvalid => WeComErrorClass.Configuration,
        _ => WeComErrorClass.Permanent,
    };

    /// <summary>
    /// How a refusal from a robot's response_url is treated. Doc 101138 says a response_url can be used once and for one
    /// hour but names no errcode for a used or expired one (FACTS §4.2), so every answer that is neither a limit nor
    /// "busy" is read as "this URL is spent": a second POST cannot succeed, so it is permanent. Token and configuration
    /// codes cannot mean ours here (the URL carries no token and no app setting), so they are permanent too.
    /// </summary>
    public static WeComErrorClass ClassifyResponseUrl(int errCode) => Classify(errCode) switch
    {
        WeComErrorClass.RateLimited => WeComErrorClass.RateLimited,
        WeComErrorClass.Transient => WeComErrorClass.Transient,
        _ => WeComErrorClass.Permanent,
    };

    /// <summary>
    /// Whether a call that failed with <paramref name="errCode"/> was certainly not applied: WeCom refused it (a positive
    /// errcode is a check that failed before anything was done: a limit, a parameter, a permission) or it never reached
    /// WeCom (a failed connection, an open circuit, an HTTP 4xx). Not -1, which WeCom may answer after applying the call,
    /// nor a timeout or an HTTP 5xx, whose outcome is unknown.
    /// </summary>
    public static bool NotApplied(int errCode) => errCode > Ok || errCode is ConnectionFailed or CircuitOpen or HttpRejected;

    /// <summary>
    /// How long to hold back after a rate-limit answer when nothing better is known: WeCom's minute-limit penalty blocks
    /// the API for 60 s. The outbox lengthens a 45009 pause to the hour when the hour limit was hit.
    /// </summary>
    internal static TimeSpan? RetryAfter(int errCode) => errCode switch
    {
        FrequencyLimited => TimeSpan.FromSeconds(60),
        ConcurrencyLimited => TimeSpan.FromSeconds(1),
        _ => null,
    };
}
