using System.Net;
using System.Text;
using Bot.Core.Inbox;
using Bot.Core.Campaigns.Lottery;
using Bot.Core.Observability;
using Bot.Core.Outbox;
using Bot.Core.Rules;

namespace Bot.Host.Admin;

/// <summary>The one-page, read-only status view at /admin: plain HTML rendered on the server, no script.</summary>
internal static class StatusPage
{
    public static async Task<IResult> RenderAsync(
        RuleSetProvider rules, InboxStore inbox, OutboxStore outbox, LotteryService lotteries, BotMetrics metrics, RobotAlarms robotAlarms,
        TimeProvider time, CancellationToken ct)
    {
        var status = rules.Status;
        var stats = await inbox.GetStatsAsync(ct);
        var depth = await outbox.GetDepthAsync(ct);
        var html = new StringBuilder();
        html.Append("<!doctype html><html lang=\"zh\"><head><meta charset=\"utf-8\"><title>WeComBot status</title>")
            .Append("<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}.error{color:#b00}</style></head><body>")
            .Append("<h1>WeComBot status</h1>")
            .Append($"<p>As of <time>{time.GetUtcNow():u}</time></p>");
        // First on the page: an alarm is something an operator must act on.
        var alarms = await robotAlarms.ListAsync(ct);
        html.Append("<h2>Configuration alarms</h2><table id=\"config-alarms\"><tr><th>Robot</th><th>Errcode</th><th>Since</th><th>What to do</th></tr>");
        foreach (var alarm in alarms)
        {
            html.Append($"<tr class=\"error\"><td>{E(alarm.RobotName)}</td><td>{alarm.ErrCode} {E(alarm.ErrMsg)}</td><td>{alarm.RaisedAt:u}</td>")
                .Append($"<td>webhook key invalid or robot removed from the group; its posts wait. Fix it, then POST /admin/alarms/robots/{E(alarm.RobotName)}/clear</td></tr>");
        }
        if (alarms.Count == 0)
        {
            html.Append("<tr><td colspan=\"4\">none</td></tr>");
        }
        html.Append("</table>")
            .Append("<h2>Rules</h2><table>")
            .Append($"<tr><th>Version</th><td id=\"rules-version\">{E(status.Version)}</td></tr>")
            .Append($"<tr><th>Loaded at</th><td>{status.LoadedAt:u}</td></tr>")
            .Append($"<tr><th>Rules</th><td>{E(rules.Current.Summary())}</td></tr>")
            .Append($"<tr><th>Rejected reloads</th><td id=\"rules-rejected\">{status.RejectedReloads}</td></tr>")
            .Append($"<tr><th>Last error</th><td id=\"rules-last-error\"{(status.LastError is null ? "" : " class=\"error\"")}>{E(status.LastError ?? "none")}</td></tr></table>")
            .Append("<h2>Inbox</h2><table>")
            .Append($"<tr><th>Pending</th><td id=\"inbox-pending\">{stats.Pending}</td></tr>")
            .Append($"<tr><th>Oldest pending</th><td id=\"inbox-oldest\">{(stats.OldestPendingAge is { } age ? $"{age.TotalSeconds:0} s" : "-")}</td></tr>")
            .Append($"<tr><th>Parked</th><td id=\"inbox-parked\">{stats.Parked}</td></tr>")
            .Append($"<tr><th>Handled</th><td id=\"inbox-handled\">{stats.Handled}</td></tr></table>")
            .Append("<h2>Outbox</h2><table id=\"outbox\"><tr><th>Lane</th><th>State</th><th>Items</th></tr>");
        foreach (var row in depth.OrderBy(d => d.Lane).ThenBy(d => d.State))
        {
            html.Append($"<tr><td>{row.Lane}</td><td>{row.State}</td><td>{row.Count}</td></tr>");
        }
        html.Append("</table><h2>Lotteries</h2><table id=\"lotteries\"><tr><th>Lottery</th><th>Commitment</th><th>Entries</th><th>Winners</th></tr>");
        foreach (var lottery in rules.Current.Lotteries)
        {
            var audit = await lotteries.GetAuditAsync(lottery.Source.Name, ct);
            // The state says whether it was drawn: a draw nobody entered has an empty winner list, not a missing one.
            var winners = audit switch
            {
                { Winners: { Count: > 0 } w } => string.Join(", ", w.Select(x => $"{x.Prize}: {x.ExternalUserId}")),
                { Winners: not null } => "drawn, no winners",
                _ => "not drawn yet",
            };
            html.Append($"<tr><td>{E(lottery.Source.Name)}</td><td><code>{E(audit?.Commitment ?? "not open yet")}</code></td><td>{audit?.EntryCount ?? 0}</td><td>{E(winners)}</td></tr>");
        }
        var tally = metrics.Tally();
        html.Append("</table><h2>Welcomes since start</h2><table id=\"welcomes\">")
            .Append($"<tr><th>Sent within {BotMetrics.WelcomeDeadline.TotalSeconds:0} s</th><td id=\"welcomes-within-deadline\">{tally.WelcomesSentWithinDeadline}</td></tr>");
        foreach (var (outcome, count) in tally.WelcomeOutcomes)
        {
            html.Append($"<tr><th>{E(outcome)}</th><td>{count}</td></tr>");
        }
        html.Append("</table><h2>Quota waits since start</h2><table id=\"quota-waits\"><tr><th>Rule</th><th>Sends held back</th></tr>");
        foreach (var (rule, count) in tally.QuotaWaits)
        {
            html.Append($"<tr><td>{E(rule)}</td><td>{count}</td></tr>");
        }
        html.Append("</table></body></html>");
        return Results.Content(html.ToString(), "text/html; charset=utf-8");
    }

    private static string E(string text) => WebUtility.HtmlEncode(text);
}
