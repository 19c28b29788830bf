using Bot.Core.WeCom.Api;

namespace Bot.Core.RateLimiting;

/// <summary>
/// Names and defaults of the built-in quota rules. Figures come from shared/wecom/FACTS.md §5.11 and §6;
/// doc numbers are developer.work.weixin.qq.com/document/path/N.
/// </summary>
public static class QuotaRules
{
    public const string ApiPerMinute = "api-per-minute";
    public const string ApiPerHour = "api-per-hour";
    public const string ApiConcurrency = "api-concurrency";
    public const string CustomerTagEdit = "customer-tag-edit";
    public const string GroupMassReceiving = "group-mass-receiving";
    public const string CustomerMassReceiving = "customer-mass-receiving";
    public const string SenderPerGroupPerDay = "sender-group-per-day";
    public const string SenderPerCustomerPerDay = "sender-customer-per-day";
    public const string RobotPerMinute = "robot-per-minute";
    public const string AppMessagePerMinute = "app-message-per-minute";
    public const string AppMessagePerHour = "app-message-per-hour";

    // The APIs the built-in rules name, by the one name table of the WeCom client.
    public static readonly string AddMsgTemplate = WeComApis.AddMsgTemplate.Name;
    public static readonly string MarkTag = WeComApis.MarkTag.Name;
    public static readonly string Remark = WeComApis.Remark.Name;
    public static readonly string KfSyncMsg = WeComApis.KfSyncMsg.Name;
    public static readonly string MessageSend = WeComApis.SendAppMessage.Name;
    public static readonly string WebhookSend = WeComApis.RobotWebhook.Name;

    /// <summary>The key to pause when WeCom answers 45009 for <paramref name="api"/>: the per-minute counter blocks every call to it.</summary>
    public static QuotaKey ApiKey(string rule, string api) => new(rule, api);

    internal static IEnumerable<KeyValuePair<string, QuotaRuleOptions>> Defaults()
    {
        // Doc 90454 (频率限制, 2023-08-28): per corp, per API, 10,000/min and 150,000/hour. It says message/send is not
        // counted there; counting it anyway costs nothing at these figures.
        yield return Rule(ApiPerMinute, "{api}", 10_000, "00:01:00");
        yield return Rule(ApiPerHour, "{api}", 150_000, "01:00:00");

        // 45033 has no official table; staff answers put remark, mark_tag and kf/sync_msg at 5 in flight (FACTS §6.2).
        // Modelled as 5 starts per sliding second, not a lease: the contract has no release, a lease lost by a crashed
        // caller would block until its TTL, and calls finish well inside a second, so 5 starts per second keep at most
        // 5 in flight (Little's law). A 45033 that still gets through is paused on this key.
        yield return Rule(ApiConcurrency, "{api}", 5, "00:00:01", Remark, MarkTag, KfSyncMsg);

        // Concurrent tag edits on the same customer answer 45033 (FACTS §6.2): serialise them per customer.
        yield return Rule(CustomerTagEdit, "{customer}", 1, "00:00:01", MarkTag, Remark);

        // Doc 92135 (2025-11-17): each customer / customer group receives at most days-in-month mass messages a month,
        // or 7/week or 1/day as the admin sets it; `Quotas:MassMessageReceivingRule` chooses (FACTS §6.3).
        yield return Rule(GroupMassReceiving, "{chat}", 1, QuotaRuleWindow.ReceivingRuleName, AddMsgTemplate);
        yield return Rule(CustomerMassReceiving, "{customer}", 1, QuotaRuleWindow.ReceivingRuleName, AddMsgTemplate);

        // JS-SDK doc 96997 (2025-07-11): the same member reaches the same customer at most once a day by default,
        // "adjustable to 7/week or days-in-month/month" by the same 群发 setting as the receiving cap (FACTS §6.3), so the
        // sender caps follow `Quotas:MassMessageReceivingRule` too; applied to the member's customer groups as well,
        // since the receiving cap is shared [U]. The names keep "per-day" so existing configuration still replaces them.
        yield return Rule(SenderPerGroupPerDay, "{sender}/{chat}", 1, QuotaRuleWindow.ReceivingRuleName, AddMsgTemplate);
        yield return Rule(SenderPerCustomerPerDay, "{sender}/{customer}", 1, QuotaRuleWindow.ReceivingRuleName, AddMsgTemplate);

        // Doc 91770 / 99398: 20 messages per minute per robot, all senders combined; the window's alignment is
        // undocumented (FACTS §5.11), and a sliding window is safe under either.
        yield return Rule(RobotPerMinute, "{robot}", 20, "00:01:00", WebhookSend);

        // Doc 90454: per app, to one member, 30/min and 1,000/hour; WeCom silently drops the excess.
        yield return Rule(AppMessagePerMinute, "{recipient}", 30, "00:01:00", MessageSend);
        yield return Rule(AppMessagePerHour, "{recipient}", 1_000, "01:00:00", MessageSend);
    }

    private static KeyValuePair<string, QuotaRuleOptions> Rule(string name, string key, int limit, string window, params string[] apis) =>
        new(name, new QuotaRuleOptions { Key = key, Limit = limit, Window = window, Apis = apis });
}
