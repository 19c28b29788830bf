using System.Text.Json;
using System.Text.Json.Nodes;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace Bot.Tests.EndToEnd;

/// <summary>
/// get_corp_tag_list and add_corp_tag as WeCom keeps them (FACTS §5.5): one tag list, which add_corp_tag grows, and
/// a name that already exists in its group refused with 40071 (标签名已存在), nothing created. Installed over
/// <see cref="FakeWeCom.StubAll"/>'s fixed answers; starts with the same two groups.
/// </summary>
internal sealed class FakeCorpTags
{
    public const int TagNameExists = 40071;

    private readonly Lock _gate = new();
    private readonly List<(string Id, string Name, List<(string Id, string Name)> Tags)> _groups =
    [
        ("etGroupSrc", "客户来源", [(FakeWeCom.SourceTagId, "上海门店")]),
        ("etGroupLife", "生命周期", [(FakeWeCom.NewCustomerTagId, "新客")]),
    ];
    private int _next;

    private FakeCorpTags()
    {
    }

    /// <summary>How long add_corp_tag takes to answer, so that racing callers overlap on it.</summary>
    public TimeSpan AddDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    public static FakeCorpTags Install(WireMockServer server)
    {
        var fake = new FakeCorpTags();
        server.Given(Request.Create().WithPath("/cgi-bin/externalcontact/get_corp_tag_list").UsingPost()).AtPriority(1)
            .RespondWith(Response.Create().WithCallback(_ => Reply(fake.List())));
        server.Given(Request.Create().WithPath("/cgi-bin/externalcontact/add_corp_tag").UsingPost()).AtPriority(1)
            .RespondWith(Response.Create().WithCallback(async request =>
            {
                await Task.Delay(fake.AddDelay);
                return Reply(fake.Add(JsonNode.Parse(request.Body!)!.AsObject()));
            }));
        return fake;
    }

    /// <summary>Creates a tag as another app or the admin console would, behind the bot's back.</summary>
    public string CreateElsewhere(string groupName, string tagName) => Add(new JsonObject
    {
        ["group_name"] = groupName,
        ["tag"] = new JsonArray(new JsonObject { ["name"] = tagName }),
    })["tag_group"]!["tag"]![0]!["id"]!.GetValue<string>();

    private JsonObject List()
    {
        lock (_gate)
        {
            return new JsonObject { ["errcode"] = 0, ["errmsg"] = "ok", ["tag_group"] = new JsonArray([.. _groups.Select(g => Group(g.Id, g.Name, g.Tags))]) };
        }
    }

    private JsonObject Add(JsonObject body)
    {
        lock (_gate)
        {
            var groupId = body["group_id"]?.GetValue<string>();
            var groupName = body["group_name"]?.GetValue<string>();
            // group_id wins over group_name; a group_name of an existing group adds to that group.
            var index = _groups.FindIndex(g => groupId is not null ? g.Id == groupId : g.Name == groupName);
            if (index < 0 && groupId is not null)
            {
                return new JsonObject { ["errcode"] = 40068, ["errmsg"] = "invalid tagid" };
            }
            var names = body["tag"]!.AsArray().Select(t => t!["name"]!.GetValue<string>()).ToList();
            if (index >= 0 && names.Any(n => _groups[index].Tags.Any(t => t.Name == n)))
            {
                return new JsonObject { ["errcode"] = TagNameExists, ["errmsg"] = "tag name already exists" };
            }
            if (index < 0)
            {
                _groups.Add(("etGroupNew" + ++_next, groupName!, []));
                index = _groups.Count - 1;
            }
            var created = names.Select(n => ("etTagNew" + ++_next, n)).ToList();
            _groups[index].Tags.AddRange(created);
            return new JsonObject { ["errcode"] = 0, ["errmsg"] = "ok", ["tag_group"] = Group(_groups[index].Id, _groups[index].Name, created) };
        }
    }

    private static JsonObject Group(string id, string name, IEnumerable<(string Id, string Name)> tags) => new()
    {
        ["group_id"] = id, ["group_name"] = name, ["create_time"] = 1, ["order"] = 0, ["deleted"] = false,
        ["tag"] = new JsonArray([.. tags.Select(t => new JsonObject
        {
            ["id"] = t.Id, ["name"] = t.Name, ["create_time"] = 1, ["order"] = 0, ["deleted"] = false,
        })]),
    };

    private static WireMock.IResponseMessage Reply(JsonObject body) => new WireMock.ResponseMessage
    {
        StatusCode = 200,
        BodyData = new WireMock.Util.BodyData
        {
            BodyAsString = body.ToJsonString(new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }),
            DetectedBodyType = WireMock.Types.BodyType.String,
        },
    };
}
