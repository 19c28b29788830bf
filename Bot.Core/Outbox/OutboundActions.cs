using System.Text.Json.Nodes;
using Bot.Core.RateLimiting;
using Bot.Core.WeCom.Api;

namespace Bot.Core.Outbox;

/// <summary>
/// One thing the bot asks WeCom to do, as the closed set the outbox knows how to send. Each action names its stored
/// kind (and so its lane and idempotency, see <see cref="OutboxKinds"/>), who receives it, what it counts against and
/// until when it is worth sending; <see cref="OutboxRequest.For"/> turns one into the row to store, and the sender reads
/// the row back into the same action.
/// </summary>
internal abstract record OutboundAction
{
    private protected OutboundAction()
    {
    }

    public abstract OutboundKind Kind { get; }

    /// <summary>Who or what receives it: an external user id, a chat id, a member userid, a rule name.</summary>
    public abstract string Target { get; }

    /// <summary>The customer concerned, so opt-out applies and operators can list a customer's actions.</summary>
    public virtual string? ExternalUserId => null;

    public abstract QuotaSubject QuotaSubject { get; }

    /// <summary>After this instant the action is pointless and is recorded as expired; null when it never goes stale.</summary>
    public virtual DateTimeOffset? Deadline => null;

    /// <summary>The stored payload: the JSON this kind has always stored, so rows written before still read.</summary>
    public abstract string ToPayload();
}

/// <summary>A welcome for a customer who just added <see cref="Guide"/>, with the channel (`state`) it came through.</summary>
internal sealed record WelcomeMessage(string Customer, string Guide, SendWelcomeRequest Request, string? State, DateTimeOffset CodeIssuedAt)
    : OutboundAction
{
    /// <summary>send_welcome_msg accepts a welcome_code for 20 s after the event (FACTS 5.2).</summary>
    public static readonly TimeSpan CodeLifetime = TimeSpan.FromSeconds(20);

    public static readonly OutboundKind Definition = new(OutboxKinds.Welcome, OutboxLane.Welcome, IsIdempotent: true, Read);

    public override OutboundKind Kind => Definition;
    public override string Target => Customer;
    public override string? ExternalUserId => Customer;
    public override QuotaSubject QuotaSubject => new(WeComApis.SendWelcomeMessage.Name, Sender: Guide, ExternalUserIds: [Customer]);
    public override DateTimeOffset? Deadline => CodeIssuedAt + CodeLifetime;
    public override string ToPayload() => OutboundPayloads.Serialize(new WelcomePayload(Request, State, Guide));

    // The deadline is the code's issue plus its lifetime, so the issue is derivable from the stored row.
    private static WelcomeMessage Read(OutboxItem item)
    {
        var payload = OutboundPayloads.Deserialize<WelcomePayload>(item.Payload);
        return new(item.Target, payload.Guide, payload.Request, payload.State, (item.Deadline ?? item.CreatedAt + CodeLifetime) - CodeLifetime);
    }
}

/// <summary>Tags by name for a customer; ids are resolved (and missing tags created) when sent.</summary>
internal sealed record TagChange(string? UserId, string Customer, IReadOnlyList<string> Tags) : OutboundAction
{
    public static readonly OutboundKind Definition = new(OutboxKinds.TagChange, OutboxLane.Interactive, IsIdempotent: true, Read);

    public override OutboundKind Kind => Definition;
    public override string Target => Customer;
    public override string? ExternalUserId => Customer;
    public override QuotaSubject QuotaSubject => new(WeComApis.MarkTag.Name, Sender: UserId, ExternalUserIds: [Customer]);
    public override string ToPayload() => OutboundPayloads.Serialize(new TagChangePayload(UserId, Customer, Tags));

    private static TagChange Read(OutboxItem item)
    {
        var payload = OutboundPayloads.Deserialize<TagChangePayload>(item.Payload);
        return new(payload.UserId, payload.ExternalUserId, payload.Tags);
    }
}

/// <summary>
/// A reply to a message: through the robot message's <see cref="ResponseUrl"/>, or as an app message to
/// <see cref="ToUser"/>. A <see cref="ConfirmsPreference"/> reply answers 退订/订阅 and goes even to an opted-out customer.
/// </summary>
internal sealed record ReplyMessage(
    string Recipient, string? Customer, string? ResponseUrl, string? ToUser, string Text, DateTimeOffset ReceivedAt, bool ConfirmsPreference = false)
    : OutboundAction
{
    /// <summary>A robot's response_url is usable for one hour (FACTS §4.2).</summary>
    public static readonly TimeSpan ResponseUrlLifetime = TimeSpan.FromHours(1);

    public static readonly OutboundKind Reply = new(OutboxKinds.Reply, OutboxLane.Interactive, IsIdempotent: false, Read);

    public static readonly OutboundKind PreferenceReply = new(OutboxKinds.PreferenceReply, OutboxLane.Interactive, IsIdempotent: false, Read)
    {
        HonoursOptOut = false,
    };

    private bool ViaRobot => ResponseUrl is not null;

    public override OutboundKind Kind => ConfirmsPreference ? PreferenceReply : Reply;
    public override string Target => Recipient;
    public override string? ExternalUserId => Customer;

    public override QuotaSubject QuotaSubject => ViaRobot
        ? new QuotaSubject(WeComApis.RobotResponse.Name)
        : new QuotaSubject(WeComApis.SendAppMessage.Name, AppRecipient: ToUser);

    public override DateTimeOffset? Deadline => ViaRobot ? ReceivedAt + ResponseUrlLifetime : null;
    public override string ToPayload() => OutboundPayloads.Serialize(new ReplyPayload(ResponseUrl, ToUser, Text));

    private static ReplyMessage Read(OutboxItem item)
    {
        var payload = OutboundPayloads.Deserialize<ReplyPayload>(item.Payload);
        var receivedAt = payload.ResponseUrl is not null && item.Deadline is { } deadline ? deadline - ResponseUrlLifetime : item.CreatedAt;
        return new(item.Target, item.ExternalUserId, payload.ResponseUrl, payload.ToUser, payload.Text, receivedAt, item.Kind == OutboxKinds.PreferenceReply);
    }
}

/// <summary>Why a post goes into a customer group; each is its own stored kind.</summary>
internal enum GroupPostPurpose
{
    GroupWelcome,
    LotteryAnnouncement,
    SeedingPost,
}

/// <summary>
/// A post into one customer group, by the group robot or as a mass-message task. For a batched group welcome,
/// <see cref="BatchKey"/> names the stored joiners and <see cref="Text"/> holds <see cref="GroupPostPayload.MembersPlaceholder"/>
/// where their names go, filled in at send time.
/// </summary>
internal sealed record GroupPost(GroupPostPurpose Purpose, string Channel, string ChatId, string Text, string? RobotKey, string? Sender, string? BatchKey = null)
    : OutboundAction
{
    // A group post's target is the group even when its quota subject (a robot webhook) names no chat, so the group's
    // contact budget applies to every channel.
    public static readonly OutboundKind GroupWelcome = new(OutboxKinds.GroupWelcome, OutboxLane.Group, IsIdempotent: false, Read)
    {
        TargetsGroup = true,
    };

    public static readonly OutboundKind LotteryAnnouncement = new(OutboxKinds.LotteryAnnouncement, OutboxLane.Group, IsIdempotent: false, Read)
    {
        TargetsGroup = true,
        BudgetedByDefault = true,
    };

    public static readonly OutboundKind SeedingPost = new(OutboxKinds.SeedingPost, OutboxLane.Bulk, IsIdempotent: false, Read)
    {
        TargetsGroup = true,
        BudgetedByDefault = true,
    };

    public override OutboundKind Kind => Purpose switch
    {
        GroupPostPurpose.GroupWelcome => GroupWelcome,
        GroupPostPurpose.LotteryAnnouncement => LotteryAnnouncement,
        GroupPostPurpose.SeedingPost => SeedingPost,
        _ => throw new ArgumentOutOfRangeException(nameof(Purpose), Purpose, null),
    };

    public override string Target => ChatId;
    public override QuotaSubject QuotaSubject => SubjectFor(Channel, ChatId, RobotKey, Sender);
    public override string ToPayload() => OutboundPayloads.Serialize(new GroupPostPayload(Channel, ChatId, Text, RobotKey, Sender, BatchKey));

    /// <summary>What a group post counts against: the group robot's webhook, or a mass-message task as <paramref name="sender"/>.</summary>
    public static QuotaSubject SubjectFor(string channel, string chatId, string? robotKey, string? sender) =>
        channel == GroupPostChannels.Robot
            ? new QuotaSubject(WeComApis.RobotWebhook.Name, RobotKey: robotKey)
            : new QuotaSubject(WeComApis.AddMsgTemplate.Name, Sender: sender, ChatIds: [chatId]);

    private static GroupPost Read(OutboxItem item)
    {
        var purpose = item.Kind switch
        {
            OutboxKinds.GroupWelcome => GroupPostPurpose.GroupWelcome,
            OutboxKinds.LotteryAnnouncement => GroupPostPurpose.LotteryAnnouncement,
            _ => GroupPostPurpose.SeedingPost,
        };
        var payload = OutboundPayloads.Deserialize<GroupPostPayload>(item.Payload);
        return new(purpose, payload.Channel, payload.ChatId, payload.Text, payload.RobotKey, payload.Sender, payload.BatchKey);
    }
}

/// <summary>
/// One add_msg_template task of an operator's broadcast: <see cref="Sender"/>'s customers or owned groups, up to WeCom's
/// limit per task (<see cref="MaxCustomers"/>, <see cref="MaxGroups"/>). Each recipient is admitted on its own (opt-out,
/// receiving rule, sender cap, contact budget; see <see cref="OutboxRecipients"/>), so the stored body always lists
/// exactly the recipients the call carries. The attachments are the operator's JSON as given.
/// </summary>
internal sealed record BroadcastMessage(IReadOnlyList<string> Recipients, bool ToGroup, string Sender, string Text, JsonArray? Attachments) : OutboundAction
{
    /// <summary>external_userid per task (FACTS §5.6).</summary>
    public const int MaxCustomers = 10_000;

    /// <summary>chat_id_list per task (FACTS-2 §5.1).</summary>
    public const int MaxGroups = 2_000;

    public static readonly OutboundKind Definition = new(OutboxKinds.Broadcast, OutboxLane.Bulk, IsIdempotent: false, Read)
    {
        BudgetedByDefault = true,
        CarriesRecipients = true,
    };

    public override OutboundKind Kind => Definition;

    // A task for one recipient is addressed to them, as every row stored before tasks were grouped is (Read understands
    // both); a task for many is the sender's, its recipients in the payload and in outbox_recipients.
    public override string Target => Recipients.Count == 1 ? Recipients[0] : Sender;
    public override string? ExternalUserId => !ToGroup && Recipients.Count == 1 ? Recipients[0] : null;

    /// <summary>The call itself counts against the API's own quotas only; each recipient's allowances are taken apiece.</summary>
    public override QuotaSubject QuotaSubject => new(WeComApis.AddMsgTemplate.Name, Sender: Sender);

    /// <summary>What one recipient counts against; pre-flight takes the same, so both see the same counters.</summary>
    public static QuotaSubject SubjectFor(bool toGroup, string sender, string target) =>
        toGroup
            ? new QuotaSubject(WeComApis.AddMsgTemplate.Name, Sender: sender, ChatIds: [target])
            : new QuotaSubject(WeComApis.AddMsgTemplate.Name, Sender: sender, ExternalUserIds: [target]);

    public QuotaSubject SubjectFor(string recipient) => SubjectFor(ToGroup, Sender, recipient);

    public BroadcastMessage WithRecipients(IReadOnlyList<string> recipients) => this with { Recipients = recipients };

    // The payload is add_msg_template's body, so the sender posts it as it is.
    public override string ToPayload()
    {
        var body = new JsonObject
        {
            ["chat_type"] = ToGroup ? ChatTypes.Group : ChatTypes.Single,
            [ToGroup ? "chat_id_list" : "external_userid"] = new JsonArray(Recipients.Select(r => (JsonNode)JsonValue.Create(r)).ToArray()),
            ["sender"] = Sender,
            ["text"] = new JsonObject { ["content"] = Text },
        };
        if (Attachments is not null)
        {
            body["attachments"] = Attachments.DeepClone();
        }
        return body.ToJsonString();
    }

    /// <summary>The body as the API client takes it.</summary>
    public AddMsgTemplateRequest Request() => OutboundPayloads.Deserialize<AddMsgTemplateRequest>(ToPayload());

    private static BroadcastMessage Read(OutboxItem item)
    {
        var body = JsonNode.Parse(item.Payload)?.AsObject() ?? throw new System.Text.Json.JsonException("empty broadcast payload");
        var toGroup = body["chat_type"]?.GetValue<string>() == ChatTypes.Group;
        var recipients = (body[toGroup ? "chat_id_list" : "external_userid"]?.AsArray() ?? [])
            .Select(n => n?.GetValue<string>() ?? "").Where(r => r.Length > 0).ToList();
        if (recipients.Count == 0 && item.Target.Length > 0)
        {
            // A row whose body names no list (stored by hand, or before bodies carried it) is for its target alone.
            recipients.Add(item.Target);
        }
        return new(
            recipients,
            toGroup,
            body["sender"]?.GetValue<string>() ?? "",
            body["text"]?["content"]?.GetValue<string>() ?? "",
            body["attachments"]?.AsArray());
    }
}

/// <summary>A group-welcome template (WeCom's own material, sent by WeCom to each joiner) created for one rule.</summary>
internal sealed record GroupWelcomeTemplateUpload(string RuleName, GroupWelcomeTemplate Template) : OutboundAction
{
    public static readonly OutboundKind Definition = new(OutboxKinds.GroupWelcomeTemplate, OutboxLane.Group, IsIdempotent: false, Read);

    public override OutboundKind Kind => Definition;
    public override string Target => RuleName;
    public override QuotaSubject QuotaSubject => new(WeComApis.AddGroupWelcomeTemplate.Name);
    public override string ToPayload() => OutboundPayloads.Serialize(Template);

    private static GroupWelcomeTemplateUpload Read(OutboxItem item) => new(item.Target, OutboundPayloads.Deserialize<GroupWelcomeTemplate>(item.Payload));
}
