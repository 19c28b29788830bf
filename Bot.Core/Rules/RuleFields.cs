using System.Collections.Frozen;

namespace Bot.Core.Rules;

internal enum FieldKind
{
    Scalar,
    Sequence,
    Mapping,
    SequenceOfMappings,
}

internal sealed record Field(string Name, FieldKind Kind, Shape? Child = null);

/// <summary>The fields one YAML mapping may hold. The loader rejects anything else; the schema test compares against it.</summary>
internal sealed class Shape
{
    public Shape(string name, params Field[] fields)
    {
        Name = name;
        Fields = fields.ToFrozenDictionary(f => f.Name, StringComparer.Ordinal);
        Names = [.. fields.Select(f => f.Name)];
    }

    public string Name { get; }

    public FrozenDictionary<string, Field> Fields { get; }

    /// <summary>Field names in declaration order, for messages.</summary>
    public IReadOnlyList<string> Names { get; }
}

/// <summary>The one table of accepted field names, per section and per nested object.</summary>
internal static class RuleFields
{
    public const string Welcome = "welcome";
    public const string GroupWelcome = "group_welcome";
    public const string Replies = "replies";
    public const string Tagging = "tagging";
    public const string Lotteries = "lotteries";
    public const string Seeding = "seeding";

    private static readonly Shape Attachment = new("attachment",
        new Field("image", FieldKind.Mapping, new Shape("image", new Field("media_id", FieldKind.Scalar), new Field("pic_url", FieldKind.Scalar))),
        new Field("link", FieldKind.Mapping, new Shape("link",
            new Field("title", FieldKind.Scalar), new Field("url", FieldKind.Scalar), new Field("picurl", FieldKind.Scalar), new Field("desc", FieldKind.Scalar))),
        new Field("miniprogram", FieldKind.Mapping, new Shape("miniprogram",
            new Field("title", FieldKind.Scalar), new Field("pic_media_id", FieldKind.Scalar), new Field("appid", FieldKind.Scalar), new Field("page", FieldKind.Scalar))),
        new Field("video", FieldKind.Mapping, new Shape("video", new Field("media_id", FieldKind.Scalar))),
        new Field("file", FieldKind.Mapping, new Shape("file", new Field("media_id", FieldKind.Scalar))));

    private static readonly Shape Message = new("message",
        new Field("text", FieldKind.Scalar),
        new Field("attachments", FieldKind.SequenceOfMappings, Attachment));

    private static readonly Field Name = new Field("name", FieldKind.Scalar);
    private static readonly Field Tags = new Field("tags", FieldKind.Sequence);
    private static readonly Field MessageField = new Field("message", FieldKind.Mapping, Message);
    private static readonly Field Channel = new Field("channel", FieldKind.Scalar);
    private static readonly Field RobotKey = new Field("robot_key", FieldKind.Scalar);
    private static readonly Field Sender = new Field("sender", FieldKind.Scalar);
    private static readonly Field Groups = new Field("groups", FieldKind.Sequence);

    public static readonly FrozenDictionary<string, Shape> Sections = new Dictionary<string, Shape>
    {
        [Welcome] = new(Welcome, Name,
            new Field("when", FieldKind.Mapping, new Shape("welcome.when",
                new Field("state", FieldKind.Scalar), new Field("between", FieldKind.Scalar), new Field("guide", FieldKind.Scalar))),
            MessageField, Tags),
        [GroupWelcome] = new(GroupWelcome, Name,
            new Field("when", FieldKind.Mapping, new Shape("group_welcome.when", new Field("group", FieldKind.Scalar))),
            new Field("batch", FieldKind.Scalar), MessageField, Channel, RobotKey, Sender),
        [Replies] = new(Replies, Name,
            new Field("when", FieldKind.Mapping, new Shape("replies.when",
                new Field("keywords", FieldKind.Sequence), new Field("group", FieldKind.Scalar))),
            MessageField),
        [Tagging] = new(Tagging, Name,
            new Field("when", FieldKind.Mapping, new Shape("tagging.when",
                new Field("keywords", FieldKind.Sequence), new Field("event", FieldKind.Scalar), new Field("group", FieldKind.Scalar))),
            Tags),
        [Lotteries] = new(Lotteries, Name, Groups,
            new Field("keyword", FieldKind.Scalar), new Field("opens", FieldKind.Scalar), new Field("draws", FieldKind.Scalar),
            new Field("eligible", FieldKind.Mapping, new Shape("eligible", new Field("tags_any", FieldKind.Sequence))),
            new Field("prizes", FieldKind.SequenceOfMappings, new Shape("prize", new Field("name", FieldKind.Scalar), new Field("count", FieldKind.Scalar))),
            new Field("announce", FieldKind.Scalar), new Field("tag_winners", FieldKind.Sequence), Channel, RobotKey, Sender),
        [Seeding] = new(Seeding, Name, Groups,
            new Field("start", FieldKind.Scalar), new Field("quiet_hours", FieldKind.Scalar), new Field("jitter", FieldKind.Scalar),
            new Field("posts", FieldKind.SequenceOfMappings, new Shape("post",
                new Field("after", FieldKind.Scalar), new Field("by", FieldKind.Scalar), new Field("text", FieldKind.Scalar))),
            Channel, RobotKey),
    }.ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>Section names in the order summaries list them.</summary>
    public static readonly IReadOnlyList<string> SectionOrder = [Welcome, GroupWelcome, Replies, Tagging, Lotteries, Seeding];

    /// <summary>Template variables each section's texts may use; a variable's index is its render slot.</summary>
    public static readonly FrozenDictionary<string, string[]> TemplateVariables = new Dictionary<string, string[]>
    {
        [Welcome] = ["customer.name", "guide.name", "state"],
        [GroupWelcome] = ["members", "group.name"],
        [Replies] = ["customer.name"],
        [Lotteries] = ["winners", "lottery.name"],
        [Seeding] = [],
    }.ToFrozenDictionary(StringComparer.Ordinal);
}
