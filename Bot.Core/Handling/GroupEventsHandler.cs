using Bot.Core.Campaigns.Seeding;
using Bot.Core.Groups;
using Bot.Core.Outbox;
using Bot.Core.Rules;
using Bot.Core.WeCom;
using Bot.Core.WeCom.Api;
using Bot.Core.WeCom.Callbacks;

namespace Bot.Core.Handling;

/// <summary>
/// A customer group was created, changed or dismissed: the stored group and its seeding follow, and joiners get the
/// rules' group welcome (batched) and tags.
/// </summary>
internal sealed class GroupEventsHandler(
    RulePlanner planner,
    WeComDirectory directory,
    OutboxWriter outbox,
    GroupWelcomeBatches batches,
    CustomerGroupStore groups,
    SeedingService seeding)
{
    public async Task CreatedAsync(ExternalChatCreated created, CancellationToken ct)
    {
        var chat = await directory.GetGroupAsync(created.ChatId, ct);
        await groups.UpsertAsync(created.ChatId, chat.Name, chat.Owner, ct);
        await seeding.OnGroupCreatedAsync(created.ChatId, chat.Name, created.CreateTime, ct);
    }

    public async Task DismissedAsync(ExternalChatDismissed dismissed, CancellationToken ct)
    {
        await groups.MarkDismissedAsync(dismissed.ChatId, ct);
        await seeding.OnGroupDismissedAsync(dismissed.ChatId, ct);
        directory.ForgetGroup(dismissed.ChatId);
    }

    public async Task UpdatedAsync(RuleSet ruleSet, CallbackOrigin origin, ExternalChatUpdated updated, CancellationToken ct)
    {
        directory.ForgetGroup(updated.ChatId);
        if (updated.UpdateDetail == ChatUpdateDetail.DeleteMember)
        {
            await seeding.OnMembersLeftAsync(updated.ChatId, updated.MemChangeList, ct);
            return;
        }
        var chat = await directory.GetGroupAsync(updated.ChatId, ct);
        await groups.UpsertAsync(updated.ChatId, chat.Name, chat.Owner, ct);
        if (updated.UpdateDetail != ChatUpdateDetail.AddMember)
        {
            return;
        }
        // MemChangeList has arrived empty in some tenants (LESSONS #9): fall back to the newest joiners in the list.
        var joiners = updated.MemChangeList.Count > 0
            ? updated.MemChangeList
            : chat.Members.OrderByDescending(m => m.JoinTime).Take(updated.MemChangeCnt ?? 0).Select(m => m.UserId).ToList();
        var customers = joiners.Where(WeComUserIds.IsExternal).ToList();
        if (customers.Count == 0)
        {
            return;
        }
        var actions = planner.PlanGroupJoin(ruleSet, new GroupJoinInput(updated.ChatId, chat.Name ?? "", customers, origin.Item.ReceivedAt));
        var requests = new List<OutboxRequest>();
        foreach (var action in actions)
        {
            switch (action)
            {
                case AddTags tags:
                    requests.Add(origin.Tags(tags));
                    break;
                case GroupWelcomeCandidate candidate when candidate.Channel != GroupChannel.WelcomeTemplate:
                    var (batchKey, windowEnd) = await batches.AddAsync(candidate.RuleName, candidate.ChatId, candidate.Members, origin.Item.ReceivedAt, candidate.Batch, ct);
                    var rendered = candidate.Definition.Render(GroupPostPayload.MembersPlaceholder, chat.Name ?? "");
                    var channel = candidate.Channel == GroupChannel.Robot ? GroupPostChannels.Robot : GroupPostChannels.MassMessage;
                    var sender = candidate.Definition.Sender ?? chat.Owner;
                    var post = new GroupPost(GroupPostPurpose.GroupWelcome, channel, candidate.ChatId, rendered.Text, candidate.Definition.RobotKey, sender, batchKey);
                    requests.Add(OutboxRequest.For(post, batchKey, origin.For(candidate.Rule)) with { NotBefore = windowEnd });
                    break;
            }
        }
        if (requests.Count > 0)
        {
            await outbox.EnqueueBatchAsync(requests, ct);
        }
    }
}
