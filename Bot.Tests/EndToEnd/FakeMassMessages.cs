using System.Text.Json;
using System.Text.Json.Nodes;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace Bot.Tests.EndToEnd;

/// <summary>
/// add_msg_template and get_groupmsg_list_v2 as WeCom keeps them: every task WeCom creates is listed (API-created
/// ones without a creator, create_type 0, FACTS-2 §5.2), and WeCom's -1 comes in both kinds — after it applied the
/// call (the task exists) or before (nothing was created). Installed over <see cref="FakeWeCom.StubAll"/>'s answer.
/// </summary>
internal sealed class FakeMassMessages
{
    public enum Answer
    {
        Applied,
        BusyAfterApplying,
        BusyWithoutApplying,
    }

    private readonly Lock _gate = new();
    private readonly List<JsonObject> _tasks = [];
    private readonly Queue<Answer> _answers = new();
    private int _next;

    private FakeMassMessages()
    {
    }

    /// <summary>The msgids of the tasks WeCom created, in order.</summary>
    public IReadOnlyList<string> Created
    {
        get
        {
            lock (_gate)
            {
                return [.. _tasks.Select(t => t["msgid"]!.GetValue<string>())];
            }
        }
    }

    public static FakeMassMessages Install(WireMockServer server)
    {
        var fake = new FakeMassMessages();
        server.Given(Request.Create().WithPath("/cgi-bin/externalcontact/add_msg_template").UsingPost()).AtPriority(1)
            .RespondWith(Response.Create().WithCallback(request => Reply(fake.Add(JsonNode.Parse(request.Body!)!.AsObject()))));
        server.Given(Request.Create().WithPath("/cgi-bin/externalcontact/get_groupmsg_list_v2").UsingPost()).AtPriority(1)
            .RespondWith(Response.Create().WithCallback(request => Reply(fake.List(JsonNode.Parse(request.Body!)!.AsObject()))));
        return fake;
    }

    /// <summary>How the next add_msg_template calls are answered; after these, calls are applied and answered 0.</summary>
    public void Then(params Answer[] answers)
    {
        lock (_gate)
        {
            foreach (var answer in answers)
            {
                _answers.Enqueue(answer);
            }
        }
    }

    private JsonObject Add(JsonObject body)
    {
        lock (_gate)
        {
            var answer = _answers.TryDequeue(out var next) ? next : Answer.Applied;
            if (answer == Answer.BusyWithoutApplying)
            {
                return Error(-1, "system busy");
            }
            var msgId = "msgFake" + ++_next;
            _tasks.Add(new JsonObject
            {
                ["msgid"] = msgId,
                ["chat_type"] = body["chat_type"]?.GetValue<string>() ?? "single",
                ["create_time"] = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
                ["create_type"] = 0,
                ["text"] = body["text"]?.DeepClone(),
                ["attachments"] = body["attachments"]?.DeepClone() ?? new JsonArray(),
            });
            return answer == Answer.BusyAfterApplying
                ? Error(-1, "system busy")
                : new JsonObject { ["errcode"] = 0, ["errmsg"] = "ok", ["msgid"] = msgId, ["fail_list"] = new JsonArray() };
        }
    }

    private JsonObject List(JsonObject body)
    {
        var chatType = body["chat_type"]?.GetValue<string>();
        var start = body["start_time"]?.GetValue<long>();
        var end = body["end_time"]?.GetValue<long>();
        var limit = body["limit"]?.GetValue<int>() ?? 50;
        if (chatType is not ("single" or "group") || start is null || end is null || end < start
            || end - start > (long)TimeSpan.FromDays(31).TotalSeconds || limit is < 1 or > 100)
        {
            return Error(40058, "invalid parameter");
        }
        var filter = body["filter_type"]?.GetValue<int>() ?? 2;
        var creator = body["creator"]?.GetValue<string>();
        var offset = int.TryParse(body["cursor"]?.GetValue<string>(), out var c) ? c : 0;
        lock (_gate)
        {
            var matching = _tasks.Where(t => t["chat_type"]!.GetValue<string>() == chatType
                    && t["create_time"]!.GetValue<long>() >= start && t["create_time"]!.GetValue<long>() <= end
                    && (filter == 2 || t["create_type"]!.GetValue<int>() == filter)
                    // API-created tasks have no creator, so a creator filter never finds them.
                    && creator is null)
                .ToList();
            var page = matching.Skip(offset).Take(limit).Select(t => new JsonObject
            {
                ["msgid"] = t["msgid"]!.DeepClone(), ["create_time"] = t["create_time"]!.DeepClone(),
                ["create_type"] = t["create_type"]!.DeepClone(), ["text"] = t["text"]?.DeepClone(), ["attachments"] = t["attachments"]!.DeepClone(),
            });
            return new JsonObject
            {
                ["errcode"] = 0, ["errmsg"] = "ok",
                ["next_cursor"] = offset + limit < matching.Count ? (offset + limit).ToString(System.Globalization.CultureInfo.InvariantCulture) : "",
                ["group_msg_list"] = new JsonArray([.. page]),
            };
        }
    }

    private static JsonObject Error(int errcode, string errmsg) => new() { ["errcode"] = errcode, ["errmsg"] = errmsg };

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
