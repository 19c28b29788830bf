namespace Bot.Core.WeCom.Api;

/// <summary>A WeCom API call failed: WeCom answered errcode ≠ 0, or (local codes ≤ -1000) no usable answer came back.</summary>
public sealed class WeComApiException : Exception
{
    public WeComApiException(string api, int errCode, string errMsg, Exception? innerException = null, TimeSpan? retryAfter = null)
        : base($"WeCom {api} failed: errcode {errCode} ({errMsg})", innerException)
    {
        Api = api;
        ErrCode = errCode;
        ErrMsg = errMsg;
        Class = WeComErrorCodes.Classify(errCode);
        RetryAfter = retryAfter ?? WeComErrorCodes.RetryAfter(errCode);
    }

    public string Api { get; }

    public int ErrCode { get; }

    public string ErrMsg { get; }

    public WeComErrorClass Class { get; }

    /// <summary>For rate-limited answers and an open circuit: how long to hold this API back.</summary>
    public TimeSpan? RetryAfter { get; }
}

/// <summary>
/// A call that is not safe to repeat (add_msg_template, message/send, webhook/send, add_corp_tag,
/// group_welcome_template/add, remind_groupmsg_send) timed out or broke after it was sent: WeCom may or may not
/// have applied it. It is not retried; the caller records it for reconciliation.
/// </summary>
public sealed class WeComOutcomeUnknownException : Exception
{
    public WeComOutcomeUnknownException(string api, Exception? innerException = null)
        : base(innerException is WeComApiException answered
            ? $"WeCom {api} answered {answered.ErrCode}, which it may give after applying the call; it may or may not have been applied"
            : $"WeCom {api} was sent but no answer came back; it may or may not have been applied", innerException)
    {
        Api = api;
    }

    public string Api { get; }
}
