using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Bot.Core.Rules;

/// <summary>
/// Reads every <c>*.yaml</c>/<c>*.yml</c> file of a folder (in ordinal file-name order, which is also the order
/// "first match wins" sees them), validates all of it and returns one <see cref="RuleSet"/> or every error.
/// </summary>
public static class RuleLoader
{
    public static RuleLoadResult Load(string folder) => Load(folder, TimeProvider.System);

    public static RuleLoadResult Load(string folder, TimeProvider timeProvider) => Load(folder, timeProvider, new RulesOptions());

    /// <summary>Loads within the limits of <paramref name="options"/> (file and folder sizes, rule count, reply length).</summary>
    public static RuleLoadResult Load(string folder, TimeProvider timeProvider, RulesOptions options)
    {
        var limits = RuleLimits.From(options);
        var errors = new List<RuleError>();
        var warnings = new List<RuleWarning>();
        if (!Directory.Exists(folder))
        {
            errors.Add(new RuleError(folder, 1, 1, "rules folder not found"));
            return RuleLoadResult.Failure(errors, warnings);
        }

        var files = Directory.EnumerateFiles(folder)
            .Where(IsRuleFile)
            .Order(StringComparer.Ordinal)
            .ToList();

        var rules = new RuleCollector();
        var reader = new RuleFileReader(folder, limits, errors);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var path in files)
        {
            if (reader.Read(path) is not { } text)
            {
                continue;
            }
            hash.AppendData(Encoding.UTF8.GetBytes(Path.GetFileName(path) + "\0" + text + "\0"));
            new RuleFileCompiler(path, text, rules, errors, warnings, limits).Compile();
        }

        if (errors.Count > 0)
        {
            return RuleLoadResult.Failure(errors, warnings);
        }
        var version = Convert.ToHexStringLower(hash.GetHashAndReset())[..12];
        return RuleLoadResult.Success(new RuleSet(
            version, timeProvider.GetUtcNow(),
            rules.Welcome, rules.GroupWelcome, rules.Replies, rules.Tagging, rules.Lotteries, rules.Seeding, warnings));
    }

    private static bool IsRuleFile(string path)
    {
        var name = Path.GetFileName(path);
        // Editors' lock and backup files start with a dot (".#welcome.yaml", ".welcome.yaml.swp").
        return !name.StartsWith('.')
            && (name.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || name.EndsWith(".yml", StringComparison.OrdinalIgnoreCase));
    }
}

/// <summary>The rules of all files, merged, with their names kept unique across files and sections.</summary>
internal sealed class RuleCollector
{
    public List<WelcomeRule> Welcome { get; } = [];

    public List<GroupWelcomeRule> GroupWelcome { get; } = [];

    public List<ReplyRule> Replies { get; } = [];

    public List<TaggingRule> Tagging { get; } = [];

    public List<LotteryRule> Lotteries { get; } = [];

    public List<SeedingRule> Seeding { get; } = [];

    public Dictionary<string, (string File, int Line, int Column)> Names { get; } = new(StringComparer.Ordinal);

    /// <summary>Rules seen so far, in every file and section, valid or not.</summary>
    public int Seen { get; set; }

    /// <summary>Set once the folder holds more rules than allowed; the rest is then not compiled.</summary>
    public bool OverRuleLimit { get; set; }
}

/// <summary>Compiles one file's YAML into rules, reporting each problem at the node it is about.</summary>
internal sealed class RuleFileCompiler(
    string file, string text, RuleCollector rules, List<RuleError> errors, List<RuleWarning> warnings, RuleLimits limits)
{
    private const int MaxAttachments = 9; // send_welcome_msg and add_msg_template both take at most 9
    private const string GroupJoinEvent = "group_join";
    private const string GroupCreatedStart = "group_created";

    private int[]? _lineStarts;

    public void Compile()
    {
        if (rules.OverRuleLimit)
        {
            return; // reported once, at the first rule over the limit
        }
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException ex)
        {
            var message = ex.InnerException is { } inner && ex.Message.Contains("see inner", StringComparison.OrdinalIgnoreCase)
                ? inner.Message
                : ex.Message;
            Error(ex.Start, $"YAML syntax error: {StripMarkPrefix(message)}");
            return;
        }
        if (stream.Documents.Count == 0)
        {
            return;
        }
        if (stream.Documents.Count > 1)
        {
            Error(stream.Documents[1].RootNode, "one YAML document per rule file");
        }
        var root = stream.Documents[0].RootNode;
        if (root is YamlScalarNode { Value: null or "" or "~" or "null" })
        {
            return;
        }
        if (root is not YamlMappingNode sections)
        {
            Error(root, $"wrong type: expected a mapping of sections ({string.Join(", ", RuleFields.SectionOrder)}), got {Describe(root)}");
            return;
        }
        foreach (var (keyNode, value) in sections.Children)
        {
            var key = ((keyNode as YamlScalarNode)?.Value) ?? "";
            if (!RuleFields.Sections.TryGetValue(key, out var shape))
            {
                Error(keyNode, $"unknown section '{key}' (allowed: {string.Join(", ", RuleFields.SectionOrder)})");
                continue;
            }
            if (value is YamlScalarNode { Value: null or "" or "~" })
            {
                continue; // an empty section, e.g. while someone is writing it
            }
            if (value is not YamlSequenceNode list)
            {
                Error(value, $"wrong type for section '{key}': expected a list of rules, got {Describe(value)}");
                continue;
            }
            foreach (var item in list.Children)
            {
                if (++rules.Seen > limits.MaxRules)
                {
                    rules.OverRuleLimit = true;
                    Error(item, string.Create(CultureInfo.InvariantCulture, $"too many rules: the folder may hold at most {limits.MaxRules:N0} (Rules:MaxRules)"));
                    return;
                }
                if (item is not YamlMappingNode map)
                {
                    Error(item, $"wrong type for a {key} rule: expected a mapping, got {Describe(item)}");
                    continue;
                }
                var fields = ReadFields(map, shape, key + " rule");
                var source = ReadName(fields, map);
                switch (key)
                {
                    case RuleFields.Welcome: CompileWelcome(fields, source); break;
                    case RuleFields.GroupWelcome: CompileGroupWelcome(fields, source); break;
                    case RuleFields.Replies: CompileReply(fields, source); break;
                    case RuleFields.Tagging: CompileTagging(fields, source); break;
                    case RuleFields.Lotteries: CompileLottery(fields, source); break;
                    case RuleFields.Seeding: CompileSeeding(fields, source); break;
                }
            }
        }
    }

    private RuleSource? ReadName(Fields fields, YamlMappingNode map)
    {
        var node = fields.Scalar("name", required: true);
        if (node is null)
        {
            return null;
        }
        var name = node.Value!.Trim();
        if (rules.Names.TryGetValue(name, out var first))
        {
            Error(node, $"duplicate rule name '{name}' (first defined at {first.File}:{first.Line}:{first.Column})");
            return null;
        }
        rules.Names[name] = (file, Line(node.Start), Column(node.Start));
        return new RuleSource(name, file, Line(map.Start));
    }

    private void CompileWelcome(Fields f, RuleSource? source)
    {
        Glob? state = null, guide = null;
        TimeWindow? between = null;
        if (f.Mapping("when") is { } when)
        {
            state = CompileGlob(when.Scalar("state"));
            guide = CompileGlob(when.Scalar("guide"));
            between = CompileWindow(when.Scalar("between"));
        }
        var messageFields = f.Mapping("message", required: true);
        var message = CompileMessage(messageFields, RuleFields.Welcome);
        var tags = CompileTags(f.Sequence("tags"));
        var fits = message is null || TextFits(messageFields, message, WeComTextLimits.WelcomeText);
        if (source is not null && message is not null && tags is not null && fits)
        {
            rules.Welcome.Add(new WelcomeRule(source, state, between, guide, message, tags));
        }
    }

    private void CompileGroupWelcome(Fields f, RuleSource? source)
    {
        var group = f.Mapping("when") is { } when ? CompileGlob(when.Scalar("group")) : null;
        var batchNode = f.Scalar("batch");
        var batch = CompileDuration(batchNode) ?? TimeSpan.Zero;
        var messageFields = f.Mapping("message", required: true);
        var message = CompileMessage(messageFields, RuleFields.GroupWelcome);
        var (channel, channelNode) = CompileChannel(f, GroupChannel.Robot, allowTemplate: true);
        var robotKey = f.Scalar("robot_key")?.Value;
        var sender = f.Scalar("sender")?.Value;
        var fits = message is null || channel is null || TextFits(messageFields, message, WeComTextLimits.ForGroupPost(channel.Value));
        if (source is null || message is null || channel is null || !fits)
        {
            return;
        }
        var at = (YamlNode?)channelNode ?? f.Map;
        WarnRobot(channel.Value, robotKey, at, message, messageFields);
        switch (channel.Value)
        {
            case GroupChannel.WelcomeTemplate:
                if (message.Text.Uses(GroupWelcomeRule.Members))
                {
                    Warn(messageFields!.Node("text")!, "channel welcome_template: WeCom sends the template itself and fills in only %NICKNAME%, so {{members}} cannot be rendered");
                }
                if (batchNode is not null && batch > TimeSpan.Zero)
                {
                    Warn(batchNode, "channel welcome_template: batch has no effect, WeCom merges quick successive joiners itself");
                }
                if (message.Attachments.Count > 1)
                {
                    Warn(messageFields!.Node("attachments")!, "channel welcome_template: WeCom sends only one attachment of a group welcome template");
                }
                break;
            case GroupChannel.MassMessage:
                Warn(at, sender is null
                    ? "channel mass_message needs a sender: a group welcome by mass message is sent as a member (set sender to a WeCom userid), who must confirm it in the WeCom client"
                    : $"channel mass_message: each welcome waits until {sender} confirms it in the WeCom client, and counts against the group's receiving cap (as low as 1 per day)");
                break;
        }
        rules.GroupWelcome.Add(new GroupWelcomeRule(source, group, batch, message, channel.Value, robotKey, sender));
    }

    private void CompileReply(Fields f, RuleSource? source)
    {
        var when = f.Mapping("when", required: true);
        var keywords = when is null ? null : CompileKeywords(when.Sequence("keywords", required: true));
        var group = when is null ? null : CompileGlob(when.Scalar("group"));
        var messageFields = f.Mapping("message", required: true);
        var message = CompileMessage(messageFields, RuleFields.Replies);
        var fits = message is null || TextFits(messageFields, message, limits.ReplyText);
        if (source is not null && keywords is not null && message is not null && fits)
        {
            rules.Replies.Add(new ReplyRule(source, keywords, group, message));
        }
    }

    private void CompileTagging(Fields f, RuleSource? source)
    {
        var when = f.Mapping("when", required: true);
        var tagsNode = f.Sequence("tags", required: true);
        var tags = CompileTags(tagsNode);
        if (tags is { Count: 0 } && tagsNode is not null)
        {
            Error(tagsNode, "empty tag list: a tagging rule needs at least one tag");
            tags = null;
        }
        if (when is null)
        {
            return;
        }
        var keywordsNode = when.Sequence("keywords");
        var eventNode = when.Scalar("event");
        var group = CompileGlob(when.Scalar("group"));
        IReadOnlyList<string>? keywords = [];
        TaggingTrigger trigger;
        if (eventNode is not null)
        {
            trigger = TaggingTrigger.GroupJoin;
            if (eventNode.Value != GroupJoinEvent)
            {
                Error(eventNode, $"unknown event '{eventNode.Value}' (allowed: {GroupJoinEvent})");
                keywords = null;
            }
            if (keywordsNode is not null)
            {
                Error(keywordsNode, "a tagging rule takes either when.keywords or when.event, not both");
                keywords = null;
            }
        }
        else if (keywordsNode is not null)
        {
            trigger = TaggingTrigger.Keywords;
            keywords = CompileKeywords(keywordsNode);
        }
        else
        {
            if (!when.HasErrors)
            {
                Error(when.Map, "a tagging rule needs when.keywords or when.event");
            }
            return;
        }
        if (source is not null && keywords is not null && tags is not null)
        {
            rules.Tagging.Add(new TaggingRule(source, trigger, keywords, group, tags));
        }
    }

    private void CompileLottery(Fields f, RuleSource? source)
    {
        var groups = CompileGlobList(f.Sequence("groups", required: true));
        var keywordNode = f.Scalar("keyword", required: true);
        var keyword = keywordNode?.Value?.Trim();
        if (keywordNode is not null && string.IsNullOrEmpty(keyword))
        {
            Error(keywordNode, "empty keyword");
            keyword = null;
        }
        var opens = CompileInstant(f.Scalar("opens", required: true));
        var drawsNode = f.Scalar("draws", required: true);
        var draws = CompileInstant(drawsNode);
        var ok = opens is not null && draws is not null;
        if (ok && opens >= draws)
        {
            Error(drawsNode!, $"draws ({drawsNode!.Value}) must be after opens");
            ok = false;
        }
        var eligible = f.Mapping("eligible") is { } e ? CompileTags(e.Sequence("tags_any")) : [];
        var prizes = CompilePrizes(f.Sequences("prizes", required: true), f.Node("prizes"));
        var announceNode = f.Scalar("announce", required: true);
        var announce = CompileTemplate(announceNode, RuleFields.Lotteries);
        var tagWinners = CompileTags(f.Sequence("tag_winners"));
        var (channel, channelNode) = CompileChannel(f, GroupChannel.Robot, allowTemplate: false);
        var robotKey = f.Scalar("robot_key")?.Value;
        var sender = f.Scalar("sender")?.Value;
        var fits = channel is null || Fits(announceNode, announce, WeComTextLimits.ForGroupPost(channel.Value), "announce");
        if (source is null || groups is null || keyword is null || !ok || eligible is null || prizes is null
            || announce is null || tagWinners is null || channel is null || !fits)
        {
            return;
        }
        var at = (YamlNode?)channelNode ?? f.Map;
        WarnRobot(channel.Value, robotKey, at, null, null);
        if (channel == GroupChannel.MassMessage && sender is null)
        {
            Warn(at, "channel mass_message needs a sender: the announcement is sent as a member (set sender to a WeCom userid), who must confirm it in the WeCom client");
        }
        rules.Lotteries.Add(new LotteryRule(source, groups, keyword, opens!.Value, draws!.Value, eligible, prizes, announce, tagWinners,
            channel.Value, robotKey, sender));
    }

    private void CompileSeeding(Fields f, RuleSource? source)
    {
        var groups = CompileGlobList(f.Sequence("groups", required: true));
        var startNode = f.Scalar("start", required: true);
        SeedingStart? start = null;
        if (startNode is not null)
        {
            if (startNode.Value == GroupCreatedStart)
            {
                start = new SeedingStart(true, null);
            }
            else
            {
                try
                {
                    start = new SeedingStart(false, Cronos.CronExpression.Parse(startNode.Value ?? "", Cronos.CronFormat.IncludeSeconds));
                }
                catch (Cronos.CronFormatException ex)
                {
                    Error(startNode, $"bad start \"{startNode.Value}\": expected {GroupCreatedStart} or a cron expression with seconds like \"0 0 19 * * FRI\" ({ex.Message})");
                }
            }
        }
        var quietNode = f.Scalar("quiet_hours");
        var quiet = CompileWindow(quietNode);
        var jitter = CompileDuration(f.Scalar("jitter")) ?? TimeSpan.Zero;
        var postsNode = f.Node("posts");
        var posts = new List<SeedingPost>();
        var postTexts = new List<(YamlScalarNode Node, Template Text)>();
        var postsOk = true;
        var postMaps = f.Sequences("posts", required: true);
        if (postMaps is { Count: 0 })
        {
            Error(postsNode!, "empty post list: a seeding script needs at least one post");
            postsOk = false;
        }
        foreach (var post in postMaps ?? [])
        {
            var after = CompileDuration(post.Scalar("after", required: true));
            var by = post.Scalar("by", required: true)?.Value;
            var textNode = post.Scalar("text", required: true);
            var textTemplate = CompileTemplate(textNode, RuleFields.Seeding);
            if (after is null || by is null || textTemplate is null)
            {
                postsOk = false;
                continue;
            }
            posts.Add(new SeedingPost(after.Value, by, textTemplate, Line(post.Map.Start)));
            postTexts.Add((textNode!, textTemplate));
        }
        var (channel, channelNode) = CompileChannel(f, GroupChannel.MassMessage, allowTemplate: false);
        var robotKey = f.Scalar("robot_key")?.Value;
        if (channel is not null)
        {
            foreach (var (node, template) in postTexts)
            {
                postsOk &= Fits(node, template, WeComTextLimits.ForGroupPost(channel.Value), "text");
            }
        }
        if (source is null || groups is null || start is null || (quietNode is not null && quiet is null) || !postsOk || postMaps is null || channel is null)
        {
            return;
        }
        var at = (YamlNode?)channelNode ?? f.Map;
        WarnRobot(channel.Value, robotKey, at, null, null);
        if (channel == GroupChannel.Robot)
        {
            Warn(at, "channel robot: posts show as the group robot, not as the accounts named in 'by'");
        }
        else if (posts.Count > 1)
        {
            // README "What WeCom allows": the receiving cap may be 1 mass message per group per day.
            Warn(postsNode!, $"channel mass_message: under a 1-per-day receiving cap these {posts.Count} posts spread over {posts.Count} days, and each waits for its sender to confirm it");
        }
        rules.Seeding.Add(new SeedingRule(source, groups, start, quiet, jitter, posts, channel.Value, robotKey));
    }

    private (GroupChannel? Channel, YamlScalarNode? Node) CompileChannel(Fields f, GroupChannel fallback, bool allowTemplate)
    {
        var node = f.Scalar("channel");
        if (node is null)
        {
            return (f.IsBad("channel") ? null : fallback, null);
        }
        GroupChannel? channel = node.Value switch
        {
            GroupChannelNames.Robot => GroupChannel.Robot,
            GroupChannelNames.MassMessage => GroupChannel.MassMessage,
            GroupChannelNames.WelcomeTemplate when allowTemplate => GroupChannel.WelcomeTemplate,
            _ => null,
        };
        if (channel is null)
        {
            var allowed = allowTemplate
                ? $"{GroupChannelNames.Robot}, {GroupChannelNames.WelcomeTemplate}, {GroupChannelNames.MassMessage}"
                : $"{GroupChannelNames.Robot}, {GroupChannelNames.MassMessage}";
            Error(node, $"unknown channel '{node.Value}' for {f.Shape.Name} (allowed: {allowed})");
        }
        return (channel, node);
    }

    private void WarnRobot(GroupChannel channel, string? robotKey, YamlNode at, MessageTemplate? message, Fields? messageFields)
    {
        if (channel != GroupChannel.Robot)
        {
            return;
        }
        if (robotKey is null)
        {
            Warn(at, "channel robot without robot_key: the group robot's webhook key is needed to post");
        }
        if (message is null || messageFields?.Node("attachments") is not YamlSequenceNode items)
        {
            return;
        }
        for (var i = 0; i < message.Attachments.Count && i < items.Children.Count; i++)
        {
            if (message.Attachments[i] is MiniProgramAttachmentTemplate or VideoAttachmentTemplate)
            {
                Warn(items.Children[i], "channel robot: a group robot cannot send miniprogram or video attachments");
            }
        }
    }

    private MessageTemplate? CompileMessage(Fields? f, string section)
    {
        if (f is null)
        {
            return null;
        }
        var textNode = f.Scalar("text");
        var text = textNode is null ? null : CompileTemplate(textNode, section);
        var attachmentMaps = f.Sequences("attachments");
        var ok = !f.HasErrors && (textNode is null || text is not null);
        if (textNode is null && attachmentMaps is not { Count: > 0 } && !f.HasErrors)
        {
            Error(f.Map, "a message needs text or attachments");
            ok = false;
        }
        var attachments = new List<AttachmentTemplate>();
        if (attachmentMaps is not null)
        {
            var items = (YamlSequenceNode)f.Node("attachments")!;
            if (attachmentMaps.Count > MaxAttachments)
            {
                Error(items.Children[MaxAttachments], $"too many attachments: {attachmentMaps.Count} (WeCom accepts at most {MaxAttachments})");
                ok = false;
            }
            foreach (var a in attachmentMaps)
            {
                var compiled = CompileAttachment(a, section);
                if (compiled is null)
                {
                    ok = false;
                }
                else
                {
                    attachments.Add(compiled);
                }
            }
        }
        return ok ? new MessageTemplate(text ?? Template.Parse("", [], false, []), attachments) : null;
    }

    private AttachmentTemplate? CompileAttachment(Fields a, string section)
    {
        if (a.Present.Count != 1)
        {
            if (!a.HasErrors)
            {
                Error(a.Map, $"an attachment has exactly one of {string.Join(", ", a.Shape.Names)}");
            }
            return null;
        }
        var kind = a.Present[0];
        var f = a.Mapping(kind);
        if (f is null)
        {
            return null;
        }
        AttachmentTemplate? result = kind switch
        {
            "image" => Image(f),
            "link" => Link(f),
            "miniprogram" => MiniProgram(f),
            "video" => Required(f, "media_id") is { } id ? new VideoAttachmentTemplate(id) : null,
            "file" => Required(f, "media_id") is { } id ? new FileAttachmentTemplate(id) : null,
            _ => null,
        };
        return f.HasErrors ? null : result;

        AttachmentTemplate? Image(Fields f)
        {
            var mediaId = f.Scalar("media_id");
            var picUrl = f.Scalar("pic_url");
            if ((mediaId is null) == (picUrl is null))
            {
                Error(f.Map, "an image attachment has exactly one of media_id, pic_url");
                return null;
            }
            return new ImageAttachmentTemplate(mediaId?.Value, picUrl is null ? null : CompileTemplate(picUrl, section, url: true));
        }

        AttachmentTemplate? Link(Fields f)
        {
            var titleNode = f.Scalar("title", required: true);
            var title = CompileTemplate(titleNode, section);
            var url = CompileTemplate(f.Scalar("url", required: true), section, url: true);
            var pic = f.Scalar("picurl") is { } p ? CompileTemplate(p, section, url: true) : null;
            var descNode = f.Scalar("desc");
            var desc = descNode is null ? null : CompileTemplate(descNode, section);
            var fits = Fits(titleNode, title, WeComTextLimits.LinkTitle, "title") & Fits(descNode, desc, WeComTextLimits.LinkDesc, "desc");
            return title is null || url is null || !fits ? null : new LinkAttachmentTemplate(title, url, pic, desc);
        }

        AttachmentTemplate? MiniProgram(Fields f)
        {
            var titleNode = f.Scalar("title", required: true);
            var title = CompileTemplate(titleNode, section);
            var pic = Required(f, "pic_media_id");
            var appId = Required(f, "appid");
            var page = CompileTemplate(f.Scalar("page", required: true), section);
            return title is null || pic is null || appId is null || page is null || !Fits(titleNode, title, WeComTextLimits.MiniProgramTitle, "title")
                ? null
                : new MiniProgramAttachmentTemplate(title, pic, appId, page);
        }

        static string? Required(Fields f, string name) => f.Scalar(name, required: true)?.Value;
    }

    private List<Prize>? CompilePrizes(IReadOnlyList<Fields>? maps, YamlNode? node)
    {
        if (maps is null)
        {
            return null;
        }
        if (maps.Count == 0)
        {
            Error(node!, "empty prize list: a lottery needs at least one prize");
            return null;
        }
        var prizes = new List<Prize>();
        var ok = true;
        foreach (var p in maps)
        {
            var name = p.Scalar("name", required: true)?.Value;
            var countNode = p.Scalar("count", required: true);
            if (countNode is not null && (!int.TryParse(countNode.Value, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var count) || count < 1))
            {
                Error(countNode, $"prize count must be a whole number of at least 1, got \"{countNode.Value}\"");
                ok = false;
                continue;
            }
            if (name is null || countNode is null)
            {
                ok = false;
                continue;
            }
            prizes.Add(new Prize(name, int.Parse(countNode.Value!, System.Globalization.CultureInfo.InvariantCulture)));
        }
        return ok ? prizes : null;
    }

    private Template? CompileTemplate(YamlScalarNode? node, string section, bool url = false)
    {
        if (node is null)
        {
            return null;
        }
        var problems = new List<Template.Problem>();
        var template = Template.Parse(node.Value ?? "", RuleFields.TemplateVariables[section], url, problems);
        foreach (var problem in problems)
        {
            var (line, column) = LocateInScalar(node, problem.Offset);
            errors.Add(new RuleError(file, line, column, problem.Message));
        }
        return problems.Count == 0 ? template : null;
    }

    private bool TextFits(Fields? message, MessageTemplate text, TextLimit limit) =>
        Fits(message?.Scalar("text"), text.Text, limit, "text");

    /// <summary>
    /// Refuses a text whose fixed part alone is more than the API that sends it takes. Variables are not counted:
    /// their values are known only when sending.
    /// </summary>
    private bool Fits(YamlScalarNode? node, Template? template, TextLimit limit, string field)
    {
        if (node is null || template is null)
        {
            return true;
        }
        var bytes = template.LiteralUtf8Bytes();
        if (bytes <= limit.Bytes)
        {
            return true;
        }
        Error(node, string.Create(CultureInfo.InvariantCulture, $"{field} is {bytes:N0} bytes (UTF-8, not counting {{{{variables}}}}); {limit.Refusal}"));
        return false;
    }

    // A template error points at its "{{": find the same occurrence of "{{" in the raw source of the scalar
    // (quotes, escapes and folding make value offsets differ from source offsets).
    private (int Line, int Column) LocateInScalar(YamlScalarNode node, int offset)
    {
        var value = node.Value ?? "";
        var occurrence = 0;
        for (var i = value.IndexOf("{{", StringComparison.Ordinal); i >= 0 && i < offset; i = value.IndexOf("{{", i + 2, StringComparison.Ordinal))
        {
            occurrence++;
        }
        var start = (int)node.Start.Index;
        var end = Math.Min((int)node.End.Index, text.Length);
        var at = text.IndexOf("{{", start, Math.Max(0, end - start), StringComparison.Ordinal);
        for (var n = 0; n < occurrence && at >= 0; n++)
        {
            at = text.IndexOf("{{", at + 2, Math.Max(0, end - at - 2), StringComparison.Ordinal);
        }
        return at < 0 ? (Line(node.Start), Column(node.Start)) : LineColumnOf(at);
    }

    private (int Line, int Column) LineColumnOf(int index)
    {
        if (_lineStarts is null)
        {
            var starts = new List<int> { 0 };
            for (var i = 0; i < text.Length; i++)
            {
                if (text[i] == '\n')
                {
                    starts.Add(i + 1);
                }
            }
            _lineStarts = [.. starts];
        }
        var line = Array.BinarySearch(_lineStarts, index);
        if (line < 0)
        {
            line = ~line - 1;
        }
        return (line + 1, index - _lineStarts[line] + 1);
    }

    private Glob? CompileGlob(YamlScalarNode? node)
    {
        if (node is null)
        {
            return null;
        }
        var glob = Glob.TryCompile(node.Value ?? "", out var error);
        if (glob is null)
        {
            Error(node, error!);
        }
        return glob;
    }

    private List<Glob>? CompileGlobList(YamlSequenceNode? node)
    {
        if (node is null)
        {
            return null;
        }
        if (node.Children.Count == 0)
        {
            Error(node, "empty group list: use [\"*\"] for every group");
            return null;
        }
        var globs = node.Children.Select(c => CompileGlob((YamlScalarNode)c)).ToList();
        return globs.Contains(null) ? null : [.. globs.OfType<Glob>()];
    }

    private TimeWindow? CompileWindow(YamlScalarNode? node)
    {
        if (node is null)
        {
            return null;
        }
        if (TimeWindow.TryParse(node.Value ?? "", out var window, out var error))
        {
            return window;
        }
        Error(node, error!);
        return null;
    }

    private TimeSpan? CompileDuration(YamlScalarNode? node)
    {
        if (node is null)
        {
            return null;
        }
        if (RuleDuration.TryParse(node.Value ?? "", out var duration))
        {
            return duration;
        }
        Error(node, $"bad duration \"{node.Value}\": use a number with s, m, h or d, or a combination like 1h30m");
        return null;
    }

    private DateTimeOffset? CompileInstant(YamlScalarNode? node)
    {
        if (node is null)
        {
            return null;
        }
        string[] formats = ["yyyy-MM-dd'T'HH:mm:sszzz", "yyyy-MM-dd'T'HH:mmzzz", "yyyy-MM-dd'T'HH:mm:ss'Z'", "yyyy-MM-dd'T'HH:mm:ss.FFFFFFFzzz"];
        if (DateTimeOffset.TryParseExact(node.Value, formats, System.Globalization.CultureInfo.InvariantCulture,
                System.Globalization.DateTimeStyles.AssumeUniversal, out var instant))
        {
            return instant;
        }
        Error(node, $"bad time \"{node.Value}\": expected an ISO 8601 time with its offset, like 2026-11-28T20:00:00+08:00");
        return null;
    }

    private List<string>? CompileKeywords(YamlSequenceNode? node)
    {
        if (node is null)
        {
            return null;
        }
        if (node.Children.Count == 0)
        {
            Error(node, "empty keyword list: a keyword rule needs at least one keyword");
            return null;
        }
        var keywords = new List<string>();
        foreach (var child in node.Children.Cast<YamlScalarNode>())
        {
            var keyword = child.Value?.Trim() ?? "";
            if (keyword.Length == 0)
            {
                Error(child, "empty keyword");
                return null;
            }
            keywords.Add(keyword);
        }
        return keywords;
    }

    private List<string>? CompileTags(YamlSequenceNode? node)
    {
        if (node is null)
        {
            return [];
        }
        var tags = new List<string>();
        var ok = true;
        foreach (var child in node.Children.Cast<YamlScalarNode>())
        {
            var tag = child.Value?.Trim() ?? "";
            var slash = tag.IndexOf('/');
            if (slash <= 0 || slash == tag.Length - 1)
            {
                Error(child, $"tag \"{tag}\" needs its tag group: write \"group/tag\", e.g. \"生命周期/新客\"");
                ok = false;
                continue;
            }
            tags.Add(tag);
        }
        return ok ? tags : null;
    }

    private Fields ReadFields(YamlMappingNode map, Shape shape, string what)
    {
        var fields = new Fields(this, map, shape);
        foreach (var (keyNode, value) in map.Children)
        {
            var key = (keyNode as YamlScalarNode)?.Value ?? "";
            if (!shape.Fields.TryGetValue(key, out var field))
            {
                Error(keyNode, $"unknown field '{key}' in {what} (allowed: {string.Join(", ", shape.Names)})");
                fields.HasErrors = true;
                continue;
            }
            var expected = field.Kind switch
            {
                FieldKind.Scalar => value is YamlScalarNode s && !IsNull(s) ? null : "a value",
                FieldKind.Mapping => value is YamlMappingNode ? null : "a mapping",
                _ => value is YamlSequenceNode ? null : "a list",
            };
            if (expected is null && value is YamlSequenceNode seq)
            {
                foreach (var item in seq.Children)
                {
                    var itemExpected = field.Kind == FieldKind.SequenceOfMappings
                        ? item is YamlMappingNode ? null : "a mapping"
                        : item is YamlScalarNode s && !IsNull(s) ? null : "a value";
                    if (itemExpected is not null)
                    {
                        Error(item, $"wrong type in '{key}': expected {itemExpected} for each item, got {Describe(item)}");
                        expected = "";
                    }
                }
            }
            if (expected is not null)
            {
                if (expected.Length > 0)
                {
                    Error(value, $"wrong type for '{key}': expected {expected}, got {Describe(value)}");
                }
                fields.MarkBad(key);
                continue;
            }
            fields.Add(key, keyNode, value);
        }
        return fields;
    }

    private static bool IsNull(YamlScalarNode s) =>
        s.Style == YamlDotNet.Core.ScalarStyle.Plain && s.Value is null or "" or "~" or "null";

    private static string Describe(YamlNode node) => node switch
    {
        YamlScalarNode s when IsNull(s) => "nothing",
        // Cut, so an error about a pasted page of text stays one line in the log and in /admin/rules.
        YamlScalarNode { Value.Length: > 60 } s => $"\"{s.Value[..60]}\u2026\"",
        YamlScalarNode s => $"\"{s.Value}\"",
        YamlSequenceNode => "a list",
        YamlMappingNode => "a mapping",
        _ => "an alias",
    };

    private static int Line(Mark mark) => (int)mark.Line;

    private static int Column(Mark mark) => (int)mark.Column;

    private static string StripMarkPrefix(string message)
    {
        // YamlDotNet prefixes "(Line: 3, Col: 5, Idx: 20) - (...): "; we already print the position.
        var cut = message.LastIndexOf("): ", StringComparison.Ordinal);
        return message.StartsWith("(Line:", StringComparison.Ordinal) && cut > 0 ? message[(cut + 3)..] : message;
    }

    private void Error(YamlNode node, string message) => Error(node.Start, message);

    private void Error(Mark mark, string message) => errors.Add(new RuleError(file, Line(mark), Column(mark), message));

    private void Warn(YamlNode node, string message) =>
        warnings.Add(new RuleWarning(file, Line(node.Start), Column(node.Start), message));

    /// <summary>The checked fields of one mapping. Asking for a field the shape does not declare is a bug, not a rule error.</summary>
    internal sealed class Fields(RuleFileCompiler owner, YamlMappingNode map, Shape shape)
    {
        private readonly Dictionary<string, YamlNode> _values = new(StringComparer.Ordinal);
        private readonly HashSet<string> _bad = new(StringComparer.Ordinal);

        public YamlMappingNode Map { get; } = map;

        public Shape Shape { get; } = shape;

        public List<string> Present { get; } = [];

        public bool HasErrors { get; set; }

        public void Add(string key, YamlNode keyNode, YamlNode value)
        {
            _values[key] = value;
            Present.Add(key);
        }

        public void MarkBad(string key)
        {
            _bad.Add(key);
            Present.Add(key);
            HasErrors = true;
        }

        public bool IsBad(string name) => _bad.Contains(name);

        public YamlNode? Node(string name)
        {
            if (!Shape.Fields.ContainsKey(name))
            {
                throw new InvalidOperationException($"'{name}' is not in the {Shape.Name} shape (RuleFields)");
            }
            return _values.GetValueOrDefault(name);
        }

        public YamlScalarNode? Scalar(string name, bool required = false) => (YamlScalarNode?)Get(name, required);

        public YamlSequenceNode? Sequence(string name, bool required = false) => (YamlSequenceNode?)Get(name, required);

        public Fields? Mapping(string name, bool required = false) =>
            Get(name, required) is YamlMappingNode m ? owner.ReadFields(m, Shape.Fields[name].Child!, $"'{name}'") : null;

        public IReadOnlyList<Fields>? Sequences(string name, bool required = false) =>
            Get(name, required) is YamlSequenceNode s
                ? [.. s.Children.Select(c => owner.ReadFields((YamlMappingNode)c, Shape.Fields[name].Child!, $"'{name}' item"))]
                : null;

        private YamlNode? Get(string name, bool required)
        {
            var node = Node(name);
            if (node is null && required && !_bad.Contains(name))
            {
                owner.Error(Map, $"missing field '{name}' in {Shape.Name}");
                HasErrors = true;
            }
            return node;
        }
    }
}
