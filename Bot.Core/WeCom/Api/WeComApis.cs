namespace Bot.Core.WeCom.Api;

/// <summary>
/// One WeCom endpoint: its name (also the metric/log tag and circuit-breaker key), and whether sending it twice is
/// harmless. Only such calls are retried after a timeout or an ambiguous failure.
/// </summary>
internal sealed record WeComApi(string Name, bool SafeToRepeat);

/// <summary>The endpoints the product calls, relative to `WeCom:ApiBaseUrl`.</summary>
internal static class WeComApis
{
    public static readonly WeComApi GetToken = new("gettoken", SafeToRepeat: true);
    public static readonly WeComApi GetExternalContact = new("externalcontact/get", SafeToRepeat: true);
    public static readonly WeComApi GetCorpTagList = new("externalcontact/get_corp_tag_list", SafeToRepeat: true);
    // A repeated add_corp_tag fails with "tag name exists" or creates a duplicate group: not repeatable.
    public static readonly WeComApi AddCorpTag = new("externalcontact/add_corp_tag", SafeToRepeat: false);
    public static readonly WeComApi MarkTag = new("externalcontact/mark_tag", SafeToRepeat: true);
    // WeCom accepts a welcome code once, so a resend after an unseen success is refused (41051), never duplicated.
    public static readonly WeComApi SendWelcomeMessage = new("externalcontact/send_welcome_msg", SafeToRepeat: true);
    public static readonly WeComApi AddMsgTemplate = new("externalcontact/add_msg_template", SafeToRepeat: false);
    public static readonly WeComApi GetGroupChat = new("externalcontact/groupchat/get", SafeToRepeat: true);
    public static readonly WeComApi AddGroupWelcomeTemplate = new("externalcontact/group_welcome_template/add", SafeToRepeat: false);
    public static readonly WeComApi GetGroupMsgTask = new("externalcontact/get_groupmsg_task", SafeToRepeat: true);
    public static readonly WeComApi GetGroupMsgSendResult = new("externalcontact/get_groupmsg_send_result", SafeToRepeat: true);
    // A read: reconciliation asks it which tasks a call in doubt created.
    public static readonly WeComApi GetGroupMsgListV2 = new("externalcontact/get_groupmsg_list_v2", SafeToRepeat: true);
    // At most 3 reminders per msgid per 24 h: a duplicate wastes one.
    public static readonly WeComApi RemindGroupMsgSend = new("externalcontact/remind_groupmsg_send", SafeToRepeat: false);
    public static readonly WeComApi SendAppMessage = new("message/send", SafeToRepeat: false);
    public static readonly WeComApi GetUser = new("user/get", SafeToRepeat: true);
    public static readonly WeComApi RobotWebhook = new("webhook/send", SafeToRepeat: false);

    // A robot reply goes to the full response_url WeCom hands over, not through the client, so it is not in All; the
    // name is what its quota and outbox items are known by.
    public static readonly WeComApi RobotResponse = new("aibot/response", SafeToRepeat: false);

    // Named for their quotas (FACTS §6.2) before the client calls them: the quota rules and the calls share one name.
    public static readonly WeComApi Remark = new("externalcontact/remark", SafeToRepeat: true);
    public static readonly WeComApi KfSyncMsg = new("kf/sync_msg", SafeToRepeat: true);

    public static IReadOnlyList<WeComApi> All { get; } =
    [
        GetToken, GetExternalContact, GetCorpTagList, AddCorpTag, MarkTag, SendWelcomeMessage, AddMsgTemplate,
        GetGroupChat, AddGroupWelcomeTemplate, GetGroupMsgTask, GetGroupMsgSendResult, RemindGroupMsgSend,
        SendAppMessage, GetUser, RobotWebhook, GetGroupMsgListV2,
    ];
}
