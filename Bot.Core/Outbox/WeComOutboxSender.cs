using Bot.Core.Contacts;
using Bot.Core.Groups;
using System.Net.Http.Json;
using Bot.Core.Observability;
using Bot.Core.WeCom.Api;
using Microsoft.Extensions.Logging;

namespace Bot.Core.Outbox;

/// <summary>
/// Turns one outbox item into its WeCom call and the call's fate into an outcome. Resilience inside the client has
/// already run (token refresh, retries of calls WeCom said it did not do); what reaches here is decided by errcode.
/// </summary>
public sealed partial class WeComOutboxSender(
    WeComApiClient api,
    WeComDirectory directory,
    NameLookup nameLookup,
    GroupWelcomeBatches batches,
    IHttpClientFactory httpClients,
    BotMetrics metrics,
    TimeProvider time,
    ILogger<WeComOutboxSender> logger,
    RobotAlarms robotAlarms,
    CustomerLedger ledger) : IOutboxSender
{
    /// <summary>The named client for robot response_url replies (a full URL WeCom hands us, valid once for an hour).</summary>
    public const string ResponseUrlClient = "wecom-response-url";

    public async Task<OutboxSendOutcome> SendAsync(OutboxItem item, CancellationToken ct)
    {
        using var activity = BotMetrics.ActivitySource.StartActivity("outbox.send");
        activity?.SetTag("outbox.kind", item.Kind);
        activity?.SetTag("outbox.id", item.Id);
        OutboundAction? action = null;
        try
        {
            action = Read(item);
            if (await RobotPausedAsync(action, ct) is { } paused)
            {
                return paused;
            }
            return await CallAsync(action, ct);
        }
        catch (WeComOutcomeUnknownException ex)
        {
            Log.Unknown(logger, item.Id, item.Kind, ex.Api);
            return new OutboxSendOutcome.OutcomeUnknown($"{ex.Api}: no answer after the request may have been applied");
        }
        catch (WeComApiException ex) when (ex.ErrCode == WeComErrorCodes.RobotWebhookInvalid && action is GroupPost { RobotKey: { } robotKey })
        {
            return await RaiseRobotAlarmAsync(item, robotKey, ex);
        }
        catch (WeComApiException ex)
        {
            Log.Refused(logger, item.Id, item.Kind, ex.Api, ex.ErrCode, ex.Class);
            return Classify(action, ex);
        }
        catch (HttpRequestException ex) when (action is ReplyMessage)
        {
            // A response_url reply may have been delivered before the connection broke.
            return new OutboxSendOutcome.OutcomeUnknown($"response_url: {ex.Message}");
        }
        catch (System.Text.Json.JsonException ex) when (action is ReplyMessage)
        {
            // Answered 200 but not with WeCom's {errcode, errmsg}: whether it was delivered cannot be told.
            return new OutboxSendOutcome.OutcomeUnknown($"response_url: the answer was not WeCom JSON ({ex.Message})");
        }
        finally
        {
            activity?.Dispose();
        }
    }

    /// <summary>
    /// A robot under a configuration alarm posts nothing: the item goes back in line, neither sent nor dropped, and
    /// is not counted as an attempt (WeCom never saw it, so its allowances are given back). It is looked at again every
    /// <see cref="RobotAlarms.RecheckEvery"/> until an operator clears the alarm.
    /// </summary>
    private async Task<OutboxSendOutcome?> RobotPausedAsync(OutboundAction action, CancellationToken ct)
    {
        if (action is not GroupPost { Channel: GroupPostChannels.Robot, RobotKey: { } key })
        {
            return null;
        }
        var robot = RobotAlarms.NameOf(key);
        if (!await robotAlarms.IsPausedAsync(robot, ct))
        {
            return null;
        }
        Log.RobotPaused(logger, robot);
        return new OutboxSendOutcome.RateLimited(null, RobotAlarms.RecheckEvery, WeComErrorCodes.RobotWebhookInvalid);
    }

    /// <summary>
    /// 93000: the robot's webhook key is invalid or the robot left the group. Retrying cannot help and later posts
    /// would fail the same way, so the robot is paused (in the database, for every instance) and an operator alarmed;
    /// this item fails with the reason.
    /// </summary>
    private async Task<OutboxSendOutcome> RaiseRobotAlarmAsync(OutboxItem item, string robotKey, WeComApiException ex)
    {
        var robot = RobotAlarms.NameOf(robotKey);
        Log.RobotAlarm(logger, robot, ex.ErrCode, ex.ErrMsg, item.Id);
        try
        {
            // Not the send's token: a shutdown must not lose the alarm of a failure already recorded.
            await robotAlarms.RaiseAsync(new RobotAlarm(robot, ex.ErrCode, ex.ErrMsg, item.Id, time.GetUtcNow()), CancellationToken.None);
            metrics.ConfigAlarmRaised("robot_webhook", (await robotAlarms.ListAsync(CancellationToken.None)).Count);
        }
        catch (Exception storeFailure)
        {
            // The item still fails with the reason and the Error log stands; the next 93000 raises the alarm again.
            Log.RobotAlarmNotStored(logger, storeFailure, robot);
        }
        return new OutboxSendOutcome.Failed(ex.ErrCode, $"{ex.Api}: robot {robot} webhook invalid or removed from the group ({ex.ErrMsg}); robot paused until an operator clears it")
        {
            NotApplied = true,
        };
    }

    // An unknown kind fails as a refused call would, so the item ends failed with the reason instead of being retried.
    private static OutboundAction Read(OutboxItem item) =>
        OutboxKinds.Find(item.Kind)?.Read(item)
        ?? throw new WeComApiException(item.Kind, WeComErrorCodes.InvalidParameter, $"no sender for outbox kind '{item.Kind}'");

    private OutboxSendOutcome Classify(OutboundAction? action, WeComApiException ex)
    {
        if (action is WelcomeMessage welcome)
        {
            var outcome = ex.ErrCode switch
            {
                WeComErrorCodes.CustomerAlreadyChatting => "41051",
                WeComErrorCodes.WelcomeBeingSent => "41096",
                _ => "failed",
            };
            if (ex.ErrCode != WeComErrorCodes.WelcomeBeingSent)
            {
                metrics.WelcomeAnswered(SinceCallback(welcome), outcome, welcome.State, welcome.Guide);
            }
        }
        var notApplied = WeComErrorCodes.NotApplied(ex.ErrCode);
        if (action is ReplyMessage { ResponseUrl: not null })
        {
            return ClassifyResponseUrl(ex, notApplied);
        }
        return ex.Class switch
        {
            WeComErrorClass.RateLimited => new OutboxSendOutcome.RateLimited(null, ex.RetryAfter ?? TimeSpan.FromSeconds(60), ex.ErrCode),
            WeComErrorClass.Transient or WeComErrorClass.TokenInvalid =>
                new OutboxSendOutcome.RetryLater(ex.RetryAfter ?? TimeSpan.FromSeconds(2), ex.ErrCode, ex.ErrMsg) { NotApplied = notApplied },
            _ => new OutboxSendOutcome.Failed(ex.ErrCode, $"{ex.Api}: {ex.ErrMsg}") { NotApplied = notApplied },
        };
    }

    /// <summary>
    /// A response_url is one-use and lives an hour: a refusal that is not a limit or "busy" means the URL is spent, and
    /// the item fails with that reason instead of being retried against a URL that cannot take it.
    /// </summary>
    private static OutboxSendOutcome ClassifyResponseUrl(WeComApiException ex, bool notApplied) => WeComErrorCodes.ClassifyResponseUrl(ex.ErrCode) switch
    {
        WeComErrorClass.RateLimited => new OutboxSendOutcome.RateLimited(null, ex.RetryAfter ?? TimeSpan.FromSeconds(60), ex.ErrCode),
        WeComErrorClass.Transient => new OutboxSendOutcome.RetryLater(ex.RetryAfter ?? TimeSpan.FromSeconds(2), ex.ErrCode, ex.ErrMsg) { NotApplied = notApplied },
        _ => new OutboxSendOutcome.Failed(ex.ErrCode, $"{ex.Api}: response_url used or expired (errcode {ex.ErrCode}: {ex.ErrMsg})") { NotApplied = notApplied },
    };

    private async Task<OutboxSendOutcome> CallAsync(OutboundAction action, CancellationToken ct)
    {
        switch (action)
        {
            case WelcomeMessage welcome:
                await api.SendWelcomeMessageAsync(welcome.Request, ct);
                metrics.WelcomeAnswered(SinceCallback(welcome), "sent", welcome.State, welcome.Guide);
                return new OutboxSendOutcome.Sent(null);
            case TagChange tags:
                return new OutboxSendOutcome.Sent(await MarkTagsAsync(tags, ct));
            case ReplyMessage reply:
                return new OutboxSendOutcome.Sent(await ReplyAsync(reply, ct));
            case GroupPost post:
                return await PostToGroupAsync(post, ct);
            case BroadcastMessage broadcast:
                var request = broadcast.Request();
                if (broadcast.ToGroup && broadcast.Recipients.Count == 1)
                {
                    // A group task reaches only the group's owner (FACTS-2 5.1). Tasks are planned by owner; a one-group
                    // task (rows stored before that planning named the operator's sender) asks again, which the cache answers.
                    request = request with { Sender = (await directory.GetGroupAsync(broadcast.Recipients[0], ct)).Owner };
                }
                return MassMessageOutcome(await api.AddMsgTemplateAsync(request, ct), [.. request.ExternalUserIds ?? [], .. request.ChatIds ?? []]);
            case GroupWelcomeTemplateUpload upload:
                return new OutboxSendOutcome.Sent(await api.AddGroupWelcomeTemplateAsync(upload.Template, ct));
            default:
                throw new WeComApiException(action.Kind.Name, WeComErrorCodes.InvalidParameter, $"no sender for {action.GetType().Name}");
        }
    }

    /// <summary>
    /// add_msg_template answers errcode 0 even when it refuses targets: they are listed in fail_list ("无效或无法发送的
    /// external_userid 或 chatid", FACTS 5.6, FACTS-2 5.1). A task whose every target was refused reached nobody, so it
    /// is failed with WeCom's list and gives back what it reserved (nothing was delivered, so counting it would hold
    /// the recipients for a period having received nothing); a task with some targets left is sent and names the
    /// refused ones, so the outcome says exactly which targets WeCom took.
    /// </summary>
    internal static OutboxSendOutcome MassMessageOutcome(AddMsgTemplateResult result, IReadOnlyList<string> targets)
    {
        var refused = targets.Where(t => result.FailList.Contains(t, StringComparer.Ordinal)).ToList();
        if (refused.Count == 0)
        {
            return new OutboxSendOutcome.Sent(result.MsgId);
        }
        var reason = $"{WeComApis.AddMsgTemplate.Name}: {FailListReason}: {string.Join(',', refused)}";
        return refused.Count == targets.Count
            ? new OutboxSendOutcome.Failed(WeComErrorCodes.Ok, reason) { NotApplied = true }
            : new OutboxSendOutcome.Sent(result.MsgId) { Refused = refused, RefusedReason = reason };
    }

    /// <summary>WeCom's own wording for the targets of fail_list, recorded with each refused target.</summary>
    public const string FailListReason = "fail_list (无效或无法发送的 external_userid 或 chatid)";

    /// <summary>
    /// One mark_tag per customer and item, with only the tags the customer lacks: re-tagging is a no-op and costs
    /// no mark_tag call.
    /// </summary>
    private async Task<string?> MarkTagsAsync(TagChange payload, CancellationToken ct)
    {
        var customer = await directory.GetCustomerAsync(payload.Customer, ct);
        var guide = payload.UserId ?? customer.FollowUsers.OrderBy(f => f.CreateTime).FirstOrDefault()?.UserId
            ?? throw new WeComApiException(WeComApis.GetExternalContact.Name, WeComErrorCodes.RelationshipGone, "the customer follows no member");
        var ids = await directory.ResolveTagIdsAsync(payload.Tags, ct);
        var present = customer.FollowUsers.Where(f => f.UserId == guide).SelectMany(f => f.Tags).Select(t => t.TagId).ToHashSet();
        var missing = ids.Where(id => !present.Contains(id)).Distinct().ToList();
        if (missing.Count == 0)
        {
            await RecordTagsAsync(payload, ct);
            return "no-op";
        }
        await api.MarkTagAsync(new MarkTagRequest { UserId = guide, ExternalUserId = payload.Customer, AddTags = missing }, ct);
        directory.ForgetCustomer(payload.Customer);
        await RecordTagsAsync(payload, ct);
        return string.Join(',', missing);
    }

    /// <summary>
    /// Records in our ledger the tags WeCom now has on the customer (tag audiences resolve from it). WeCom has already
    /// applied them, so a failure here is logged and the send stays Sent: failing it would resend a done mark_tag.
    /// </summary>
    private async Task RecordTagsAsync(TagChange payload, CancellationToken ct)
    {
        try
        {
            await ledger.RecordTagsAsync(payload.Customer, payload.Tags, time.GetUtcNow(), ct);
        }
        catch (Exception ex)
        {
            Log.LedgerNotRecorded(logger, ex, payload.Customer);
        }
    }

    private async Task<string?> ReplyAsync(ReplyMessage payload, CancellationToken ct)
    {
        if (payload.ResponseUrl is { } url)
        {
            var http = httpClients.CreateClient(ResponseUrlClient);
            using var response = await http.PostAsJsonAsync(url, new { msgtype = "markdown", markdown = new { content = payload.Text } }, ct);
            response.EnsureSuccessStatusCode();
            // WeCom answers HTTP 200 with {errcode, errmsg} also for a used or expired URL: the errcode decides.
            var answer = await response.Content.ReadFromJsonAsync(WeComJsonContext.Wire.WeComReply, ct)
                ?? throw new System.Text.Json.JsonException("empty answer");
            if (answer.ErrCode != WeComErrorCodes.Ok)
            {
                throw new WeComApiException(WeComApis.RobotResponse.Name, answer.ErrCode, answer.ErrMsg ?? "");
            }
            return null;
        }
        var result = await api.SendAppMessageAsync(AppMessage.TextTo(payload.ToUser!, payload.Text), ct);
        return result.MsgId;
    }

    private async Task<OutboxSendOutcome> PostToGroupAsync(GroupPost payload, CancellationToken ct)
    {
        var text = payload.Text;
        if (payload.BatchKey is { } batchKey)
        {
            var members = await batches.MembersAsync(batchKey, ct);
            if (members.Count == 0)
            {
                // A batch always starts with a joiner, so every one of them opted out: a greeting naming nobody is not sent.
                return new OutboxSendOutcome.Sent("no-op: every joiner opted out");
            }
            text = text.Replace(GroupPostPayload.MembersPlaceholder, await MemberNamesAsync(members, ct), StringComparison.Ordinal);
        }
        if (payload.Channel == GroupPostChannels.Robot)
        {
            // The rule loader only warns about a robot channel without a key (the rule may be mid-edit); posting
            // cannot work without one, so the item fails with that reason instead of an exception's.
            var key = payload.RobotKey
                ?? throw new WeComApiException(WeComApis.RobotWebhook.Name, WeComErrorCodes.InvalidParameter, "the rule's channel is robot but it has no robot_key");
            await api.SendRobotWebhookAsync(key, RobotWebhookMessage.ForText(text), ct);
            return new OutboxSendOutcome.Sent(null);
        }
        var task = await api.AddMsgTemplateAsync(new AddMsgTemplateRequest
        {
            ChatType = ChatTypes.Group,
            Sender = await GroupTaskSenderAsync(payload, ct),
            ChatIds = [payload.ChatId],
            Text = new MessageText(text),
        }, ct);
        return MassMessageOutcome(task, [payload.ChatId]);
    }

    /// <summary>
    /// WeCom gives a chat_type group task to its sender as the group's owner ("收到任务的群主", FACTS-2 5.1), so a
    /// group welcome or lottery announcement goes as the group's owner, read from groupchat/get (cached, forgotten when
    /// the group changes, so a change_owner is followed). A seeding post keeps the account its script names: trumpet
    /// posts get their own channel later, and meanwhile one by a non-owner is refused in fail_list and recorded failed
    /// with WeCom's reason rather than sent as someone else.
    /// </summary>
    private async Task<string?> GroupTaskSenderAsync(GroupPost payload, CancellationToken ct) =>
        payload.Purpose == GroupPostPurpose.SeedingPost
            ? payload.Sender
            : (await directory.GetGroupAsync(payload.ChatId, ct)).Owner;

    private async Task<string> MemberNamesAsync(IReadOnlyList<string> members, CancellationToken ct)
    {
        var names = new List<string>(members.Count);
        foreach (var member in members)
        {
            // Not every joiner is a contact of ours (joined by QR code); a name-less greeting beats none.
            names.Add("@" + await nameLookup.NameOrAsync(() => directory.GetCustomerAsync(member, ct), c => c.Contact.Name, UnnamedJoiner, ct));
        }
        return string.Join(' ', names);
    }

    /// <summary>How a group welcome names a joiner whose name cannot be looked up.</summary>
    internal const string UnnamedJoiner = "新朋友";

    private TimeSpan SinceCallback(WelcomeMessage welcome) => time.GetUtcNow() - welcome.CodeIssuedAt;

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Outbox item {Id} ({Kind}): {Api} answered errcode {ErrCode} ({Class})")]
        public static partial void Refused(ILogger logger, long id, string kind, string api, int errCode, WeComErrorClass @class);

        [LoggerMessage(2, LogLevel.Warning, "Outbox item {Id} ({Kind}): outcome of {Api} unknown; it is recorded and not resent")]
        public static partial void Unknown(ILogger logger, long id, string kind, string api);

        [LoggerMessage(20, LogLevel.Error, "Configuration alarm: group robot {Robot} answered errcode {ErrCode} ({ErrMsg}) for outbox item {Id}: its webhook key is invalid or it was removed from the group. Its posts wait until an operator fixes the robot and clears the alarm (POST /admin/alarms/robots/{Robot}/clear) or changes the rule's robot_key")]
        public static partial void RobotAlarm(ILogger logger, string robot, int errCode, string errMsg, long id);

        [LoggerMessage(21, LogLevel.Error, "Could not store the configuration alarm of group robot {Robot}; its posts are not paused")]
        public static partial void RobotAlarmNotStored(ILogger logger, Exception exception, string robot);

        [LoggerMessage(23, LogLevel.Warning, "mark_tag succeeded for {ExternalUserId} but the customer ledger did not record its tags; tag audiences miss them until the next tagging")]
        public static partial void LedgerNotRecorded(ILogger logger, Exception exception, string externalUserId);

        [LoggerMessage(22, LogLevel.Debug, "Group robot {Robot} is paused by a configuration alarm; its post waits")]
        public static partial void RobotPaused(ILogger logger, string robot);
    }
}
