namespace Bot.Core.WeCom.Callbacks;

/// <summary>A verified, decrypted callback: a stable kind, the key that collapses WeCom's retries, and the typed event.</summary>
public sealed record ParsedCallback(string Kind, string DedupeKey, CallbackEvent Event);

/// <summary>A typed WeCom callback. CreateTime is WeCom's (seconds); robot messages carry none, so theirs is the signed request timestamp.</summary>
public abstract record CallbackEvent(DateTimeOffset CreateTime);

/// <summary>A guide added a customer. WelcomeCode is absent when WeCom sends its own welcome (FACTS §3.1).</summary>
public sealed record ExternalContactAdded(
    DateTimeOffset CreateTime, string UserId, string ExternalUserId, string? State, string? WelcomeCode)
    : CallbackEvent(CreateTime);

public sealed record ExternalContactEdited(DateTimeOffset CreateTime, string UserId, string ExternalUserId, string? State)
    : CallbackEvent(CreateTime);

/// <summary>A customer added a guide without verification; the guide has not confirmed yet (FACTS §3.3).</summary>
public sealed record ExternalContactHalfAdded(
    DateTimeOffset CreateTime, string UserId, string ExternalUserId, string? State, string? WelcomeCode)
    : CallbackEvent(CreateTime);

/// <summary>The guide deleted the customer; Source is DELETE_BY_TRANSFER after a handover (FACTS §3.4).</summary>
public sealed record ExternalContactDeletedByGuide(DateTimeOffset CreateTime, string UserId, string ExternalUserId, string? Source)
    : CallbackEvent(CreateTime);

/// <summary>The customer deleted the guide.</summary>
public sealed record GuideDeletedByCustomer(DateTimeOffset CreateTime, string UserId, string ExternalUserId)
    : CallbackEvent(CreateTime);

/// <summary>A customer handover failed: customer_refused or customer_limit_exceed.</summary>
public sealed record ExternalContactTransferFailed(DateTimeOffset CreateTime, string UserId, string ExternalUserId, string? FailReason)
    : CallbackEvent(CreateTime);

public sealed record ExternalChatCreated(DateTimeOffset CreateTime, string ChatId) : CallbackEvent(CreateTime);

/// <summary>
/// A customer group changed. MemChangeList is a hint only: it has arrived empty in some tenants (LESSONS #9);
/// compare LastMemVer with the stored version and re-fetch the group when it matters.
/// </summary>
public sealed record ExternalChatUpdated(
    DateTimeOffset CreateTime,
    string ChatId,
    string UpdateDetail,
    int? JoinScene,
    int? QuitScene,
    int? MemChangeCnt,
    IReadOnlyList<string> MemChangeList,
    string? LastMemVer,
    string? CurMemVer)
    : CallbackEvent(CreateTime);

public sealed record ExternalChatDismissed(DateTimeOffset CreateTime, string ChatId) : CallbackEvent(CreateTime);

/// <summary>A corp tag or tag group changed. TagType is absent for shuffle (FACTS §3.9).</summary>
public sealed record ExternalTagChanged(DateTimeOffset CreateTime, string Id, string? TagType, string ChangeType, string? StrategyId)
    : CallbackEvent(CreateTime);

/// <summary>A staff member wrote to the app (customers never reach app callbacks, FACTS §4.2).</summary>
public sealed record AppTextMessage(DateTimeOffset CreateTime, string FromUserName, string Content, string MsgId, string AgentId)
    : CallbackEvent(CreateTime);

/// <summary>Any callback we do not model; stored and counted, never dropped.</summary>
public sealed record UnknownCallback(DateTimeOffset CreateTime, string MsgType, string? Event, string? ChangeType)
    : CallbackEvent(CreateTime);

/// <summary>
/// An intelligent-robot callback: a user @-mentioned the robot in a group or wrote to it one to one.
/// Text keeps WeCom's "@Robot" prefix. ResponseUrl may be used once, within an hour (FACTS §4.2).
/// </summary>
public sealed record RobotMessage(
    DateTimeOffset CreateTime,
    string MsgId,
    string AiBotId,
    string? ChatId,
    string ChatType,
    string FromUserId,
    string? ResponseUrl,
    string MsgType,
    string? Text)
    : CallbackEvent(CreateTime);

/// <summary>Thrown when a decrypted payload is not well-formed or lacks the fields its type requires.</summary>
public sealed class CallbackFormatException : FormatException
{
    public CallbackFormatException(string message, Exception? inner = null)
        : base(message, inner)
    {
    }

    internal CallbackFormatException(string message, bool dtdFound, Exception? inner = null)
        : base(message, inner)
    {
        DtdFound = dtdFound;
    }

    /// <summary>The payload declared a DOCTYPE, which is refused outright.</summary>
    public bool DtdFound { get; }
}
