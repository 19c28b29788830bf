using Bot.Core.Contacts;
using Bot.Core.Groups;
using Bot.Core.Outbox;
using Bot.Core.WeCom.Api;

namespace Bot.Core.Campaigns.MassMessages;

/// <summary>One add_msg_template task of a plan: a member and the recipients their task carries.</summary>
public sealed record PlannedTask(string Sender, IReadOnlyList<string> Recipients);

/// <summary>A recipient no task can carry, and why.</summary>
public sealed record UnassignedRecipient(string Recipient, string Reason);

/// <summary>A broadcast's audience as WeCom will get it: one task per member and chunk, and who could not be placed.</summary>
public sealed record BroadcastPlan(BroadcastTargetKind Kind, IReadOnlyList<PlannedTask> Tasks, IReadOnlyList<UnassignedRecipient> Unassigned)
{
    public int Recipients => Tasks.Sum(t => t.Recipients.Count);
}

/// <summary>
/// Resolves a broadcast's audience and groups it the way WeCom delivers: customers by the guide who follows them, each
/// guide's customers as that guide's task (with <c>sender</c>), groups by their owner (a group task reaches only the
/// owner, FACTS-2 §5.1), chunked at WeCom's list limits. Pre-flight and the start use this one plan, so the grouping
/// an operator checks is the grouping that is sent.
/// </summary>
/// <remarks>
/// Why a call per guide rather than one call without <c>sender</c>: without it WeCom offers each customer to "the member
/// who last chatted with them", which only WeCom knows, so the bot could not tell whose cap a customer spends nor whom to
/// ask (get_groupmsg_send_result needs the userid) when reconciling. With the guide named, each recipient's task, sender
/// cap and confirmation are known before anything is sent; a customer followed by several guides goes in one guide's
/// task only (the latest follow), so they are never offered twice.
/// </remarks>
public sealed class BroadcastPlanner(CustomerLedger ledger, CustomerGroupStore groups, WeComDirectory? directory = null)
{
    public async Task<BroadcastPlan> PlanAsync(BroadcastRequest request, CancellationToken ct)
    {
        var kind = request.TargetKind;
        var audience = await AudienceAsync(request, ct);
        var unassigned = new List<UnassignedRecipient>();
        var bySender = new SortedDictionary<string, List<string>>(StringComparer.Ordinal);
        if (kind == BroadcastTargetKind.Groups)
        {
            foreach (var chatId in audience)
            {
                if (await OwnerAsync(chatId, ct) is { Length: > 0 } owner)
                {
                    Add(bySender, owner, chatId);
                }
                else if (request.Sender is { Length: > 0 } named)
                {
                    // Owner unknown here: the named member is tried, and WeCom's fail_list refuses a group they do not own.
                    Add(bySender, named, chatId);
                }
                else
                {
                    unassigned.Add(new UnassignedRecipient(chatId, "the group's owner is unknown (groupchat/get failed and no owner is stored)"));
                }
            }
        }
        else if (request.Sender is { Length: > 0 } sender)
        {
            // The operator named the member: WeCom then refuses, in fail_list, any customer who is not theirs.
            bySender[sender] = audience.ToList();
        }
        else
        {
            var guides = await ledger.GuidesAsync(audience, ct);
            foreach (var customer in audience)
            {
                if (guides.TryGetValue(customer, out var guide))
                {
                    Add(bySender, guide, customer);
                }
                else
                {
                    unassigned.Add(new UnassignedRecipient(customer, "no guide follows this customer in the bot's ledger"));
                }
            }
        }
        var size = kind == BroadcastTargetKind.Groups ? BroadcastMessage.MaxGroups : BroadcastMessage.MaxCustomers;
        var tasks = bySender
            .SelectMany(pair => pair.Value.Chunk(size).Select(chunk => new PlannedTask(pair.Key, chunk)))
            .ToList();
        return new BroadcastPlan(kind, tasks, unassigned);
    }

    /// <summary>The recipients named, or those the tag filter or the group-name glob selects, once each in order.</summary>
    private async Task<IReadOnlyList<string>> AudienceAsync(BroadcastRequest request, CancellationToken ct)
    {
        if (request.Tags is { Count: > 0 } tags)
        {
            return await ledger.FindCustomersAsync(tags, ct);
        }
        if (request.GroupNames is { Length: > 0 } pattern)
        {
            return BroadcastAudience.GroupsMatching(await groups.ListLiveAsync(ct), pattern);
        }
        return BroadcastService.DistinctTargets(request.Targets ?? []);
    }

    private async Task<string?> OwnerAsync(string chatId, CancellationToken ct)
    {
        // groupchat/get (cached) is the truth; the stored owner, kept from callbacks, covers a failed lookup.
        if (directory is not null)
        {
            try
            {
                return (await directory.GetGroupAsync(chatId, ct)).Owner;
            }
            catch (WeComApiException)
            {
            }
        }
        return (await groups.GetAsync(chatId, ct))?.Owner;
    }

    private static void Add(SortedDictionary<string, List<string>> bySender, string sender, string recipient)
    {
        if (!bySender.TryGetValue(sender, out var list))
        {
            bySender[sender] = list = [];
        }
        list.Add(recipient);
    }
}
