namespace Bot.Core.Rules;

/// <summary>Compiles a rule's <c>message</c> (text and attachments), the part welcome, reply and group welcome rules share.</summary>
internal sealed class MessageCompiler(RuleReport report, RuleValues values)
{
    private const int MaxAttachments = 9; // send_welcome_msg and add_msg_template both take at most 9

    public MessageTemplate? Compile(Fields? f, string section)
    {
        if (f is null)
        {
            return null;
        }
        var textNode = f.Scalar("text");
        var text = values.Text(textNode, section);
        var attachmentMaps = f.Sequences("attachments");
        var ok = !f.HasErrors && (textNode is null || text is not null);
        if (textNode is null && attachmentMaps is not { Count: > 0 } && !f.HasErrors)
        {
            report.Error(f.Map, "a message needs text or attachments");
            ok = false;
        }
        var attachments = new List<AttachmentTemplate>();
        if (attachmentMaps is not null)
        {
            var items = (YamlDotNet.RepresentationModel.YamlSequenceNode)f.Node("attachments")!;
            if (attachmentMaps.Count > MaxAttachments)
            {
                report.Error(items.Children[MaxAttachments], $"too many attachments: {attachmentMaps.Count} (WeCom accepts at most {MaxAttachments})");
                ok = false;
            }
            foreach (var a in attachmentMaps)
            {
                var compiled = Attachment(a, section);
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

    /// <summary>Whether the message's text fits <paramref name="limit"/>; reported at the text when not.</summary>
    public bool TextFits(Fields? message, MessageTemplate text, TextLimit limit) =>
        values.Fits(message?.Scalar("text"), text.Text, limit, "text");

    private AttachmentTemplate? Attachment(Fields a, string section)
    {
        if (a.Present.Count != 1)
        {
            if (!a.HasErrors)
            {
                report.Error(a.Map, $"an attachment has exactly one of {string.Join(", ", a.Shape.Names)}");
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
                report.Error(f.Map, "an image attachment has exactly one of media_id, pic_url");
                return null;
            }
            return new ImageAttachmentTemplate(mediaId?.Value, values.Text(picUrl, section, url: true));
        }

        AttachmentTemplate? Link(Fields f)
        {
            var titleNode = f.Scalar("title", required: true);
            var title = values.Text(titleNode, section);
            var url = values.Text(f.Scalar("url", required: true), section, url: true);
            var pic = values.Text(f.Scalar("picurl"), section, url: true);
            var descNode = f.Scalar("desc");
            var desc = values.Text(descNode, section);
            var fits = values.Fits(titleNode, title, WeComTextLimits.LinkTitle, "title") & values.Fits(descNode, desc, WeComTextLimits.LinkDesc, "desc");
            return title is null || url is null || !fits ? null : new LinkAttachmentTemplate(title, url, pic, desc);
        }

        AttachmentTemplate? MiniProgram(Fields f)
        {
            var titleNode = f.Scalar("title", required: true);
            var title = values.Text(titleNode, section);
            var pic = Required(f, "pic_media_id");
            var appId = Required(f, "appid");
            var page = values.Text(f.Scalar("page", required: true), section);
            return title is null || pic is null || appId is null || page is null || !values.Fits(titleNode, title, WeComTextLimits.MiniProgramTitle, "title")
                ? null
                : new MiniProgramAttachmentTemplate(title, pic, appId, page);
        }

        static string? Required(Fields f, string name) => f.Scalar(name, required: true)?.Value;
    }
}
