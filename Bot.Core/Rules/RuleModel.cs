using Cronos;

namespace Bot.Core.Rules;

/// <summary>A load error at a place in a rule file; formatted <c>file:line:col: message</c>.</summary>
public sealed record RuleError(string File, int Line, int Column, string Message)
{
    public override string ToString() => $"{File}:{Line}:{Column}: {Message}";
}

/// <summary>A rule that loads but asks for something its channel cannot do; formatted <c>file:line:col: warning: message</c>.</summary>
public sealed record RuleWarning(string File, int Line, int Column, string Message)
{
    public override string ToString() => $"{File}:{Line}:{Column}: warning: {Message}";
}

/// <summary>Which rule produced an action, and where it is written (for "explain").</summary>
public sealed record RuleRef(string Name, string File, int Line, string RuleSetVersion);

/// <summary>How a rule posts into a customer group (README "What WeCom allows").</summary>
public enum GroupChannel
{
    /// <summary>The group's robot webhook (20 posts/minute per robot; posts show as the robot).</summary>
    Robot,

    /// <summary>WeCom's own group welcome material, which WeCom sends to joiners itself.</summary>
    WelcomeTemplate,

    /// <summary>A mass-message task (add_msg_template, chat_type group) a member confirms in the client.</summary>
    MassMessage,
}

internal static class GroupChannelNames
{
    public const string Robot = "robot";
    public const string WelcomeTemplate = "welcome_template";
    public const string MassMessage = "mass_message";

    public static string Of(GroupChannel channel) => channel switch
    {
        GroupChannel.Robot => Robot,
        GroupChannel.WelcomeTemplate => WelcomeTemplate,
        _ => MassMessage,
    };
}

internal abstract record AttachmentTemplate;

internal sealed record ImageAttachmentTemplate(string? MediaId, Template? PicUrl) : AttachmentTemplate;

internal sealed record LinkAttachmentTemplate(Template Title, Template Url, Template? PicUrl, Template? Desc) : AttachmentTemplate;

internal sealed record MiniProgramAttachmentTemplate(Template Title, string PicMediaId, string AppId, Template Page) : AttachmentTemplate;

internal sealed record VideoAttachmentTemplate(string MediaId) : AttachmentTemplate;

internal sealed record FileAttachmentTemplate(string MediaId) : AttachmentTemplate;

/// <summary>Rendered attachments, in the shape send_welcome_msg / add_msg_template take them.</summary>
internal abstract record Attachment;

internal sealed record ImageAttachment(string? MediaId, string? PicUrl) : Attachment;

internal sealed record LinkAttachment(string Title, string Url, string? PicUrl, string? Desc) : Attachment;

internal sealed record MiniProgramAttachment(string Title, string PicMediaId, string AppId, string Page) : Attachment;

internal sealed record VideoAttachment(string MediaId) : Attachment;

internal sealed record FileAttachment(string MediaId) : Attachment;

internal sealed record RenderedMessage(string Text, IReadOnlyList<Attachment> Attachments);

/// <summary>A message with its text and attachments parsed as templates of one section's variables.</summary>
internal sealed record MessageTemplate(Template Text, IReadOnlyList<AttachmentTemplate> Attachments)
{
    public RenderedMessage Render(ReadOnlySpan<string?> values)
    {
        var attachments = new Attachment[Attachments.Count];
        for (var i = 0; i < attachments.Length; i++)
        {
            attachments[i] = Attachments[i] switch
            {
                ImageAttachmentTemplate a => new ImageAttachment(a.MediaId, a.PicUrl?.Render(values)),
                LinkAttachmentTemplate a => new LinkAttachment(a.Title.Render(values), a.Url.Render(values), a.PicUrl?.Render(values), a.Desc?.Render(values)),
                MiniProgramAttachmentTemplate a => new MiniProgramAttachment(a.Title.Render(values), a.PicMediaId, a.AppId, a.Page.Render(values)),
                VideoAttachmentTemplate a => new VideoAttachment(a.MediaId),
                FileAttachmentTemplate a => new FileAttachment(a.MediaId),
                _ => throw new InvalidOperationException("unknown attachment"),
            };
        }
        return new RenderedMessage(Text.Render(values), attachments);
    }
}

/// <summary>Where a rule is written. Every compiled rule carries one.</summary>
internal sealed record RuleSource(string Name, string File, int Line);

internal sealed record WelcomeRule(
    RuleSource Source, Glob? State, TimeWindow? Between, Glob? Guide, MessageTemplate Message, IReadOnlyList<string> Tags)
{
    public const int CustomerName = 0, GuideName = 1, StateSlot = 2;
}

internal sealed record GroupWelcomeRule(
    RuleSource Source, Glob? Group, TimeSpan Batch, MessageTemplate Message, GroupChannel Channel, string? RobotKey, string? Sender)
{
    public const int Members = 0, GroupName = 1;

    /// <summary>For the batching service: renders the greeting once it knows everyone who joined in the window.</summary>
    public RenderedMessage Render(string members, string groupName) => Message.Render([members, groupName]);
}

internal sealed record ReplyRule(RuleSource Source, IReadOnlyList<string> Keywords, Glob? Group, MessageTemplate Message)
{
    public const int CustomerName = 0;
}

internal enum TaggingTrigger
{
    Keywords,
    GroupJoin,
}

internal sealed record TaggingRule(
    RuleSource Source, TaggingTrigger Trigger, IReadOnlyList<string> Keywords, Glob? Group, IReadOnlyList<string> Tags);

internal sealed record Prize(string Name, int Count);

internal sealed record LotteryRule(
    RuleSource Source, IReadOnlyList<Glob> Groups, string Keyword, DateTimeOffset Opens, DateTimeOffset Draws,
    IReadOnlyList<string> EligibleTagsAny, IReadOnlyList<Prize> Prizes, Template Announce, IReadOnlyList<string> TagWinners,
    GroupChannel Channel, string? RobotKey, string? Sender)
{
    public const int Winners = 0, LotteryName = 1;
}

internal sealed record SeedingPost(TimeSpan After, string By, Template Text, int Line);

/// <summary>When a seeding script starts: when a matching group is created, or on a cron schedule (seconds format).</summary>
internal sealed record SeedingStart(bool OnGroupCreated, CronExpression? Cron);

internal sealed record SeedingRule(
    RuleSource Source, IReadOnlyList<Glob> Groups, SeedingStart Start, TimeWindow? QuietHours, TimeSpan Jitter,
    IReadOnlyList<SeedingPost> Posts, GroupChannel Channel, string? RobotKey)
{
    public bool AppliesToGroup(string? groupName) => Groups.Any(g => g.IsMatch(groupName));
}

internal enum KeywordRuleKind
{
    Reply,
    Tagging,
}

/// <summary>One automaton target: a rule in one of the keyword sections, by its index in that section.</summary>
internal readonly record struct KeywordTarget(KeywordRuleKind Kind, int Index);

/// <summary>
/// One immutable, validated snapshot of every rule file in the folder. Swapped in whole on reload.
/// </summary>
public sealed class RuleSet
{
    internal RuleSet(
        string version, DateTimeOffset loadedAt,
        IReadOnlyList<WelcomeRule> welcome, IReadOnlyList<GroupWelcomeRule> groupWelcome, IReadOnlyList<ReplyRule> replies,
        IReadOnlyList<TaggingRule> tagging, IReadOnlyList<LotteryRule> lotteries, IReadOnlyList<SeedingRule> seeding,
        IReadOnlyList<RuleWarning> warnings)
    {
        Version = version;
        LoadedAt = loadedAt;
        Welcome = welcome;
        GroupWelcome = groupWelcome;
        Replies = replies;
        Tagging = tagging;
        Lotteries = lotteries;
        Seeding = seeding;
        Warnings = warnings;

        var targets = new List<KeywordTarget>();
        var keywords = new List<(string, int)>();
        for (var i = 0; i < replies.Count; i++)
        {
            keywords.AddRange(replies[i].Keywords.Select(k => (k, targets.Count)));
            targets.Add(new KeywordTarget(KeywordRuleKind.Reply, i));
        }
        for (var i = 0; i < tagging.Count; i++)
        {
            if (tagging[i].Trigger == TaggingTrigger.Keywords)
            {
                keywords.AddRange(tagging[i].Keywords.Select(k => (k, targets.Count)));
                targets.Add(new KeywordTarget(KeywordRuleKind.Tagging, i));
            }
        }
        KeywordTargets = [.. targets];
        Keywords = new KeywordAutomaton(keywords, targets.Count);
    }

    /// <summary>Short hex hash of the rule files' names and contents.</summary>
    public string Version { get; }

    public DateTimeOffset LoadedAt { get; }

    public IReadOnlyList<RuleWarning> Warnings { get; }

    public int RuleCount => Welcome.Count + GroupWelcome.Count + Replies.Count + Tagging.Count + Lotteries.Count + Seeding.Count;

    internal IReadOnlyList<WelcomeRule> Welcome { get; }

    internal IReadOnlyList<GroupWelcomeRule> GroupWelcome { get; }

    internal IReadOnlyList<ReplyRule> Replies { get; }

    internal IReadOnlyList<TaggingRule> Tagging { get; }

    internal IReadOnlyList<LotteryRule> Lotteries { get; }

    internal IReadOnlyList<SeedingRule> Seeding { get; }

    /// <summary>All reply and tagging keywords (lottery keywords: <see cref="LotteryKeywords"/>); targets index <see cref="KeywordTargets"/>, in section then file order.</summary>
    internal KeywordAutomaton Keywords { get; }

    internal KeywordTarget[] KeywordTargets { get; }

    internal RuleRef Ref(RuleSource source) => new(source.Name, source.File, source.Line, Version);

    /// <summary>"3 welcome, 1 group_welcome, …" in section order.</summary>
    public string Summary() =>
        $"{Welcome.Count} {RuleFields.Welcome}, {GroupWelcome.Count} {RuleFields.GroupWelcome}, {Replies.Count} {RuleFields.Replies}, "
        + $"{Tagging.Count} {RuleFields.Tagging}, {Lotteries.Count} {RuleFields.Lotteries}, {Seeding.Count} {RuleFields.Seeding}";
}

/// <summary>Either a <see cref="RuleSet"/> or every error found, never both.</summary>
public sealed class RuleLoadResult
{
    private RuleLoadResult(RuleSet? ruleSet, IReadOnlyList<RuleError> errors, IReadOnlyList<RuleWarning> warnings)
    {
        RuleSet = ruleSet;
        Errors = errors;
        Warnings = warnings;
    }

    public RuleSet? RuleSet { get; }

    public IReadOnlyList<RuleError> Errors { get; }

    public IReadOnlyList<RuleWarning> Warnings { get; }

    public bool Succeeded => RuleSet is not null;

    internal static RuleLoadResult Success(RuleSet ruleSet) => new(ruleSet, [], ruleSet.Warnings);

    internal static RuleLoadResult Failure(IReadOnlyList<RuleError> errors, IReadOnlyList<RuleWarning> warnings) => new(null, errors, warnings);
}
