using Bot.Core.Campaigns.Lottery;
using Bot.Core.Outbox;
using Bot.Core.RateLimiting;
using Bot.Core.Rules;
using Bot.Core.Campaigns.Seeding;
using Bot.Core.WeCom.Api;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Bot.Core.Campaigns;

/// <summary>Sends what the lottery and seeding workers produce through the outbox.</summary>
internal sealed class CampaignOutbound(OutboxWriter outbox, RuleSetProvider rules, Groups.CustomerGroupStore groups, Observability.BotMetrics metrics)
{
    /// <summary>A drawn lottery: one announcement per group through the rule's channel, and the winners' tags.</summary>
    public async Task AnnounceAsync(LotteryDrawResult result, CancellationToken ct)
    {
        metrics.LotteryDrawn(result.Late);
        var rule = rules.Current.Lotteries.FirstOrDefault(l => l.Source.Name == result.Lottery);
        var channel = AnnouncementChannel(rule);
        var requests = new List<OutboxRequest>();
        foreach (var announcement in result.Announcements)
        {
            var sender = rule?.Sender ?? (await groups.GetAsync(announcement.ChatId, ct))?.Owner;
            var post = new GroupPost(GroupPostPurpose.LotteryAnnouncement, channel, announcement.ChatId, announcement.Text, rule?.RobotKey, sender);
            requests.Add(OutboxRequest.For(post, $"{result.DedupeKey}:{announcement.ChatId}",
                rule is null ? null : new OutboxProvenance(null, rule.Source.Name, rule.Source.File, rule.Source.Line, rules.Current.Version)));
        }
        var tags = rule?.TagWinners ?? [];
        if (tags.Count > 0)
        {
            foreach (var winner in result.Winners)
            {
                requests.Add(OutboxRequest.For(new TagChange(null, winner.ExternalUserId, tags), $"{result.DedupeKey}:tags:{winner.ExternalUserId}"));
            }
        }
        if (requests.Count > 0)
        {
            await outbox.EnqueueBatchAsync(requests, ct);
        }
    }

    /// <summary>
    /// A due seeding post through its script's channel: a mass-message task sent as the trumpet member (who confirms it
    /// in the client), or a post by the group robot when the rule says <c>channel: robot</c>.
    /// </summary>
    public async Task PostSeedingAsync(SeedingPostDue post, CancellationToken ct)
    {
        var rule = rules.Current.Seeding.FirstOrDefault(s => s.Source.Name == post.Script);
        var channel = SeedingChannel(rule);
        var seeding = new GroupPost(GroupPostPurpose.SeedingPost, channel, post.ChatId, post.Text, rule?.RobotKey, post.Sender);
        await outbox.EnqueueAsync(OutboxRequest.For(seeding, post.IdempotencyKey,
            new OutboxProvenance(null, post.Script, rule?.Source.File, rule?.Source.Line, rules.Current.Version)), ct);
    }

    /// <summary>
    /// Group welcomes on the welcome_template channel are WeCom's own material, sent by WeCom to each joiner once a
    /// group owner selects it. Each distinct text is created once (the idempotency key is the rule and its text, so every
    /// instance and every reload agree); the template id WeCom returns is on the outbox item for operators.
    /// </summary>
    public async Task SyncWelcomeTemplatesAsync(RuleSet ruleSet, CancellationToken ct)
    {
        var requests = new List<OutboxRequest>();
        foreach (var rule in ruleSet.GroupWelcome.Where(r => r.Channel == GroupChannel.WelcomeTemplate))
        {
            // WeCom fills %NICKNAME% with the joiner's name; the group's name is not known to a shared template.
            var text = rule.Render("%NICKNAME%", "").Text;
            var upload = new GroupWelcomeTemplateUpload(rule.Source.Name, new GroupWelcomeTemplate { Text = new MessageText(text), Notify = 1 });
            var hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(upload.ToPayload())))[..16];
            requests.Add(OutboxRequest.For(upload, $"welcome-template:{rule.Source.Name}:{hash}",
                new OutboxProvenance(null, rule.Source.Name, rule.Source.File, rule.Source.Line, ruleSet.Version)));
        }
        if (requests.Count > 0)
        {
            await outbox.EnqueueBatchAsync(requests, ct);
        }
    }

    /// <summary>The channel a lottery's announcements go through; a lottery no longer in the rules announces by robot.</summary>
    internal static string AnnouncementChannel(LotteryRule? rule) =>
        rule?.Channel == GroupChannel.MassMessage ? GroupPostChannels.MassMessage : GroupPostChannels.Robot;

    /// <summary>The channel a seeding script posts through; a script no longer in the rules posts as its trumpets did.</summary>
    internal static string SeedingChannel(SeedingRule? rule) =>
        rule?.Channel == GroupChannel.Robot ? GroupPostChannels.Robot : GroupPostChannels.MassMessage;

    /// <summary>What a seeding post counts against: a mass-message task as the trumpet member, or the group robot's webhook.</summary>
    internal static QuotaSubject SeedingSubject(SeedingRule? rule, string sender, string chatId) =>
        GroupPost.SubjectFor(SeedingChannel(rule), chatId, rule?.RobotKey, sender);
}
