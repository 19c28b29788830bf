using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.Extensions.Options;

namespace Bot.Core.WeCom.Api;

/// <summary>
/// The WeCom server API as the product uses it. Every method throws <see cref="WeComApiException"/> when WeCom answers
/// errcode ≠ 0 (or no usable answer came back) and <see cref="WeComOutcomeUnknownException"/> when a call that is not
/// safe to repeat was sent but not answered. Token refresh, retries and circuit breaking happen inside.
/// </summary>
public sealed class WeComApiClient
{
    internal const string HttpClientName = "WeComApi";

    private readonly HttpClient _http;
    private readonly WeComApiCaller _caller;
    private readonly AccessTokenCache _tokens;
    private readonly IOptions<WeComOptions> _weComOptions;

    internal WeComApiClient(HttpClient http, WeComApiCaller caller, AccessTokenCache tokens, IOptions<WeComOptions> weComOptions)
    {
        _http = http;
        _caller = caller;
        _tokens = tokens;
        _weComOptions = weComOptions;
    }

    public async Task<ExternalContactInfo> GetExternalContactAsync(string externalUserId, string? cursor, CancellationToken cancellationToken)
    {
        var url = "externalcontact/get?external_userid=" + Uri.EscapeDataString(externalUserId)
            + (string.IsNullOrEmpty(cursor) ? "" : "&cursor=" + Uri.EscapeDataString(cursor));
        var reply = await GetAsync(WeComApis.GetExternalContact, url, WeComJsonContext.Wire.ExternalContactReply, cancellationToken).ConfigureAwait(false);
        return new ExternalContactInfo(reply.ExternalContact ?? new ExternalContact(), reply.FollowUser ?? [], NullIfEmpty(reply.NextCursor));
    }

    /// <summary>Both lists empty returns every group; WeCom ignores tag ids when group ids are given.</summary>
    public async Task<IReadOnlyList<CorpTagGroup>> GetCorpTagListAsync(IReadOnlyList<string>? tagIds, IReadOnlyList<string>? groupIds, CancellationToken cancellationToken)
    {
        var reply = await PostAsync(WeComApis.GetCorpTagList, new GetCorpTagListBody(tagIds, groupIds), WeComJsonContext.Wire.GetCorpTagListBody,
            WeComJsonContext.Wire.CorpTagListReply, cancellationToken).ConfigureAwait(false);
        return reply.TagGroups ?? [];
    }

    /// <summary>Not repeated after a timeout (it would create the tags twice or fail with "name exists").</summary>
    public async Task<CorpTagGroup> AddCorpTagAsync(AddCorpTagRequest request, CancellationToken cancellationToken)
    {
        var reply = await PostAsync(WeComApis.AddCorpTag, request, WeComJsonContext.Wire.AddCorpTagRequest,
            WeComJsonContext.Wire.AddCorpTagReply, cancellationToken).ConfigureAwait(false);
        return reply.TagGroup ?? new CorpTagGroup();
    }

    public async Task<MarkTagResult> MarkTagAsync(MarkTagRequest request, CancellationToken cancellationToken)
    {
        await PostAsync(WeComApis.MarkTag, request, WeComJsonContext.Wire.MarkTagRequest, WeComJsonContext.Wire.WeComReply, cancellationToken).ConfigureAwait(false);
        return new MarkTagResult();
    }

    public async Task<SendWelcomeResult> SendWelcomeMessageAsync(SendWelcomeRequest request, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(request.Attachments?.Count ?? 0, SendWelcomeRequest.MaxAttachments, nameof(request));
        await PostAsync(WeComApis.SendWelcomeMessage, request, WeComJsonContext.Wire.SendWelcomeRequest, WeComJsonContext.Wire.WeComReply, cancellationToken)
            .ConfigureAwait(false);
        return new SendWelcomeResult();
    }

    /// <summary>Creates a mass-message task; a timeout surfaces as <see cref="WeComOutcomeUnknownException"/>.</summary>
    public async Task<AddMsgTemplateResult> AddMsgTemplateAsync(AddMsgTemplateRequest request, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(request.Attachments?.Count ?? 0, SendWelcomeRequest.MaxAttachments, nameof(request));
        var reply = await PostAsync(WeComApis.AddMsgTemplate, request, WeComJsonContext.Wire.AddMsgTemplateRequest,
            WeComJsonContext.Wire.AddMsgTemplateReply, cancellationToken).ConfigureAwait(false);
        return new AddMsgTemplateResult(reply.MsgId ?? "", reply.FailList ?? []);
    }

    public async Task<GroupChat> GetGroupChatAsync(string chatId, CancellationToken cancellationToken)
    {
        var reply = await PostAsync(WeComApis.GetGroupChat, new GetGroupChatBody(chatId, NeedName: 1), WeComJsonContext.Wire.GetGroupChatBody,
            WeComJsonContext.Wire.GroupChatReply, cancellationToken).ConfigureAwait(false);
        return reply.GroupChat ?? new GroupChat { ChatId = chatId };
    }

    /// <summary>Returns the template id.</summary>
    public async Task<string> AddGroupWelcomeTemplateAsync(GroupWelcomeTemplate template, CancellationToken cancellationToken)
    {
        var reply = await PostAsync(WeComApis.AddGroupWelcomeTemplate, template, WeComJsonContext.Wire.GroupWelcomeTemplate,
            WeComJsonContext.Wire.GroupWelcomeTemplateReply, cancellationToken).ConfigureAwait(false);
        return reply.TemplateId ?? "";
    }

    public async Task<GroupMsgTaskPage> GetGroupMsgTaskAsync(string msgId, int? limit, string? cursor, CancellationToken cancellationToken)
    {
        var reply = await PostAsync(WeComApis.GetGroupMsgTask, new GroupMsgTaskBody(msgId, limit, cursor), WeComJsonContext.Wire.GroupMsgTaskBody,
            WeComJsonContext.Wire.GroupMsgTaskReply, cancellationToken).ConfigureAwait(false);
        return new GroupMsgTaskPage(reply.TaskList ?? [], NullIfEmpty(reply.NextCursor));
    }

    public async Task<GroupMsgSendResultPage> GetGroupMsgSendResultAsync(string msgId, string userId, int? limit, string? cursor, CancellationToken cancellationToken)
    {
        var reply = await PostAsync(WeComApis.GetGroupMsgSendResult, new GroupMsgSendResultBody(msgId, userId, limit, cursor),
            WeComJsonContext.Wire.GroupMsgSendResultBody, WeComJsonContext.Wire.GroupMsgSendResultReply, cancellationToken).ConfigureAwait(false);
        return new GroupMsgSendResultPage(reply.SendList ?? [], NullIfEmpty(reply.NextCursor));
    }

    /// <summary>The mass-message tasks created in a window (FACTS-2 §5.2), one page.</summary>
    public async Task<GroupMsgListPage> GetGroupMsgListAsync(GroupMsgListQuery query, CancellationToken cancellationToken)
    {
        var body = new GroupMsgListBody(query.ChatType, query.StartTime.ToUnixTimeSeconds(), query.EndTime.ToUnixTimeSeconds(),
            query.Creator, query.FilterType, query.Limit, NullIfEmpty(query.Cursor));
        var reply = await PostAsync(WeComApis.GetGroupMsgListV2, body, WeComJsonContext.Wire.GroupMsgListBody,
            WeComJsonContext.Wire.GroupMsgListReply, cancellationToken).ConfigureAwait(false);
        return new GroupMsgListPage(reply.GroupMsgList ?? [], NullIfEmpty(reply.NextCursor));
    }

    /// <summary>At most 3 reminders per task per 24 h, so this is not repeated after a timeout.</summary>
    public Task RemindGroupMsgSendAsync(string msgId, CancellationToken cancellationToken) =>
        PostAsync(WeComApis.RemindGroupMsgSend, new RemindGroupMsgBody(msgId), WeComJsonContext.Wire.RemindGroupMsgBody,
            WeComJsonContext.Wire.WeComReply, cancellationToken);

    /// <summary>App message to staff; AgentId 0 means `WeCom:AgentId`.</summary>
    public async Task<AppMessageResult> SendAppMessageAsync(AppMessage message, CancellationToken cancellationToken)
    {
        if (message.AgentId == 0)
        {
            message = message with { AgentId = long.Parse(_weComOptions.Value.AgentId, CultureInfo.InvariantCulture) };
        }
        var reply = await PostAsync(WeComApis.SendAppMessage, message, WeComJsonContext.Wire.AppMessage,
            WeComJsonContext.Wire.AppMessageReply, cancellationToken).ConfigureAwait(false);
        return new AppMessageResult(reply.MsgId, NullIfEmpty(reply.InvalidUser), NullIfEmpty(reply.InvalidParty), NullIfEmpty(reply.InvalidTag));
    }

    public async Task<WeComUser> GetUserAsync(string userId, CancellationToken cancellationToken)
    {
        var reply = await GetAsync(WeComApis.GetUser, "user/get?userid=" + Uri.EscapeDataString(userId), WeComJsonContext.Wire.UserReply, cancellationToken)
            .ConfigureAwait(false);
        return new WeComUser
        {
            UserId = reply.UserId ?? userId,
            Name = reply.Name ?? "",
            Alias = reply.Alias,
            Position = reply.Position,
            Department = reply.Department,
            MainDepartment = reply.MainDepartment,
            Status = reply.Status,
        };
    }

    /// <summary>
    /// Posts through a group robot (20 messages/minute per robot; over that WeCom answers 45009, surfaced as
    /// <see cref="WeComErrorClass.RateLimited"/>). The key is a credential and is never logged.
    /// </summary>
    public Task SendRobotWebhookAsync(string key, RobotWebhookMessage message, CancellationToken cancellationToken) =>
        _caller.CallAsync(_http, WeComApis.RobotWebhook, "webhook/send?key=" + Uri.EscapeDataString(key),
            JsonSerializer.SerializeToUtf8Bytes(message, WeComJsonContext.Wire.RobotWebhookMessage),
            WeComJsonContext.Wire.WeComReply, tokens: null, cancellationToken);

    private Task<TReply> GetAsync<TReply>(WeComApi api, string url, JsonTypeInfo<TReply> replyType, CancellationToken cancellationToken)
        where TReply : WeComReply =>
        _caller.CallAsync(_http, api, url, body: null, replyType, _tokens, cancellationToken);

    private Task<TReply> PostAsync<TBody, TReply>(WeComApi api, TBody body, JsonTypeInfo<TBody> bodyType, JsonTypeInfo<TReply> replyType, CancellationToken cancellationToken)
        where TReply : WeComReply =>
        _caller.CallAsync(_http, api, api.Name, JsonSerializer.SerializeToUtf8Bytes(body, bodyType), replyType, _tokens, cancellationToken);

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
