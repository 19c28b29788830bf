namespace Bot.Core.WeCom.Callbacks;

/// <summary>Why a callback was refused. <see cref="None"/> means it was accepted.</summary>
public enum CallbackRejection
{
    None = 0,

    /// <summary>msg_signature, timestamp or nonce is absent, so nothing can be verified.</summary>
    MissingSignature,

    /// <summary>msg_signature does not match SHA-1 over the sorted token, timestamp, nonce and Encrypt.</summary>
    BadSignature,

    /// <summary>The signed timestamp is not a number or lies outside WeCom:CallbackTimestampWindow (a replay).</summary>
    StaleTimestamp,

    /// <summary>Encrypt (or echostr) is not Base64.</summary>
    BadBase64,

    /// <summary>The ciphertext is not whole AES blocks, or its 32-byte PKCS#7 padding is invalid.</summary>
    BadPadding,

    /// <summary>The message decrypted, but it was sealed for another receiveId (CorpID; "" for robots).</summary>
    ForeignReceiveId,

    /// <summary>
    /// The outer body has no usable Encrypt (not XML/JSON, no or several Encrypt elements, no echostr), or the
    /// decrypted frame is inconsistent (its length field points past the end).
    /// </summary>
    MalformedEnvelope,

    /// <summary>The decrypted payload (XML, or JSON for robot callbacks) is not well formed or lacks required fields.</summary>
    MalformedXml,

    /// <summary>The envelope or the decrypted payload carries a DOCTYPE (XXE, entity expansion).</summary>
    DtdForbidden,

    /// <summary>The body exceeds WeCom:MaxCallbackBodyBytes; the endpoint refuses it before reading it.</summary>
    BodyTooLarge,
}

/// <summary>HTTP status for each rejection. WeCom reads no body and retries anything that is not 200.</summary>
public static class CallbackRejectionExtensions
{
    /// <summary>
    /// 200 for <see cref="CallbackRejection.None"/>; 401 when the request is not proven to come from WeCom right now
    /// (missing or bad signature, stale timestamp); 403 when it is genuine but sealed for another receiver;
    /// 413 for an oversized body; 400 for every malformed input.
    /// </summary>
    public static int StatusCode(this CallbackRejection rejection) => rejection switch
    {
        CallbackRejection.None => 200,
        CallbackRejection.MissingSignature or CallbackRejection.BadSignature or CallbackRejection.StaleTimestamp => 401,
        CallbackRejection.ForeignReceiveId => 403,
        CallbackRejection.BodyTooLarge => 413,
        _ => 400,
    };
}
