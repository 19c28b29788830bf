using Bot.Tests.Fixtures;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using WireMock.Logging;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace Bot.Tests.EndToEnd;

/// <summary>The WeCom answers the end-to-end tests share, and waits on what WeCom (WireMock) received.</summary>
internal static class FakeWeCom
{
    public const string SourceTagId = "etSrcShanghai";
    public const string NewCustomerTagId = "etLifeNew";

    /// <summary>Stubs the directory and action APIs with errcode 0; customers are "张三" unless <paramref name="customers"/> says otherwise.</summary>
    public static void StubAll(WireMockServer server, IReadOnlyDictionary<string, (string Name, string[] Tags)>? customers = null, bool answerWelcomes = true)
    {
        server.Given(Request.Create().WithPath("/cgi-bin/gettoken").UsingGet())
            .RespondWith(Response.Create().WithBodyAsJson(new { errcode = 0, errmsg = "ok", access_token = "TESTTOKEN", expires_in = 7200 }));
        server.Given(Request.Create().WithPath("/cgi-bin/externalcontact/get").UsingGet()).AtPriority(100)
            .RespondWith(Response.Create().WithBodyAsJson(Contact("wmAnyone", "张三", [])));
        foreach (var (id, (name, tags)) in customers ?? new Dictionary<string, (string, string[])>())
        {
            server.Given(Request.Create().WithPath("/cgi-bin/externalcontact/get").WithParam("external_userid", id).UsingGet()).AtPriority(1)
                .RespondWith(Response.Create().WithBodyAsJson(Contact(id, name, tags)));
        }
        server.Given(Request.Create().WithPath("/cgi-bin/user/get").UsingGet())
            .RespondWith(Response.Create().WithBodyAsJson(new { errcode = 0, errmsg = "ok", userid = "guide01", name = "小王", status = 1 }));
        server.Given(Request.Create().WithPath("/cgi-bin/externalcontact/get_corp_tag_list").UsingPost())
            .RespondWith(Response.Create().WithBodyAsJson(new
            {
                errcode = 0,
                errmsg = "ok",
                tag_group = new object[]
                {
                    new { group_id = "etGroupSrc", group_name = "客户来源", create_time = 1, order = 0, deleted = false,
                        tag = new object[] { new { id = SourceTagId, name = "上海门店", create_time = 1, order = 0, deleted = false } } },
                    new { group_id = "etGroupLife", group_name = "生命周期", create_time = 1, order = 0, deleted = false,
                        tag = new object[] { new { id = NewCustomerTagId, name = "新客", create_time = 1, order = 0, deleted = false } } },
                },
            }));
        server.Given(Request.Create().WithPath("/cgi-bin/externalcontact/add_corp_tag").UsingPost())
            .RespondWith(Response.Create().WithBodyAsJson(new
            {
                errcode = 0,
                errmsg = "ok",
                tag_group = new
                {
                    group_id = "etGroupLevel", group_name = "客户等级", create_time = 1, order = 0,
                    tag = new object[] { new { id = "etLevelVip", name = "VIP群成员", create_time = 1, order = 0 } },
                },
            }));
        server.Given(Request.Create().WithPath("/cgi-bin/externalcontact/mark_tag").UsingPost())
            .RespondWith(Response.Create().WithBodyAsJson(new { errcode = 0, errmsg = "ok" }));
        if (answerWelcomes)
        {
            server.Given(Request.Create().WithPath("/cgi-bin/externalcontact/send_welcome_msg").UsingPost())
                .RespondWith(Response.Create().WithBodyAsJson(new { errcode = 0, errmsg = "ok" }));
        }
        server.Given(Request.Create().WithPath("/cgi-bin/externalcontact/groupchat/get").UsingPost())
            .RespondWith(Response.Create().WithBodyAsJson(new
            {
                errcode = 0,
                errmsg = "ok",
                group_chat = new
                {
                    chat_id = "wrVipJingan",
                    name = "VIP 静安店",
                    owner = "guide01",
                    create_time = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
                    member_list = new object[]
                    {
                        new { userid = "guide01", type = 1, join_time = 1, join_scene = 1 },
                    },
                    admin_list = Array.Empty<object>(),
                },
            }));
        server.Given(Request.Create().WithPath("/cgi-bin/webhook/send").UsingPost())
            .RespondWith(Response.Create().WithBodyAsJson(new { errcode = 0, errmsg = "ok" }));
        StubMassMessageTasks(server);
        // One POST per response_url, within its hour, as WeCom takes them.
        FakeResponseUrls.Stub(server);
    }

    /// <summary>External user ids WeCom does not know (or cannot send to): add_msg_template lists them in fail_list.</summary>
    public const string UnknownCustomerPrefix = "wmUnknown";

    /// <summary>The owner groupchat/get reports for a chat not given in <see cref="StubMassMessageTasks"/>'s owners.</summary>
    public const string DefaultGroupOwner = "guide01";

    /// <summary>
    /// add_msg_template as WeCom answers it: errcode 0 with a msgid, and in fail_list every target it refused, the
    /// external ids it does not know (<see cref="UnknownCustomerPrefix"/>) and the chat ids the sender does not own
    /// ("收到任务的群主", FACTS-2 5.1; owners from <paramref name="owners"/>, else <see cref="DefaultGroupOwner"/>, as the
    /// groupchat/get stub says). A group task without a sender is refused: sender is required for chat_type group
    /// (FACTS 5.6); the docs name no code for it, so the stub answers 40003 (invalid userid). Tests that need another
    /// answer map the path at a lower priority number.
    /// </summary>
    public static void StubMassMessageTasks(WireMockServer server, IReadOnlyDictionary<string, string>? owners = null, int priority = 50)
    {
        var sequence = 0;
        server.Given(Request.Create().WithPath("/cgi-bin/externalcontact/add_msg_template").UsingPost()).AtPriority(priority)
            .RespondWith(Response.Create().WithCallback(request =>
            {
                var body = JsonDocument.Parse(request.Body!).RootElement;
                var group = body.TryGetProperty("chat_type", out var type) && type.GetString() == "group";
                var sender = body.TryGetProperty("sender", out var s) ? s.GetString() : null;
                var failed = new List<string>();
                if (group)
                {
                    if (string.IsNullOrEmpty(sender))
                    {
                        return Answer(new { errcode = 40003, errmsg = "invalid userid: sender is required for chat_type group" });
                    }
                    foreach (var chat in Strings(body, "chat_id_list"))
                    {
                        if ((owners?.GetValueOrDefault(chat) ?? DefaultGroupOwner) != sender)
                        {
                            failed.Add(chat);
                        }
                    }
                }
                else
                {
                    failed.AddRange(Strings(body, "external_userid").Where(id => id.StartsWith(UnknownCustomerPrefix, StringComparison.Ordinal)));
                }
                return Answer(new { errcode = 0, errmsg = "ok", msgid = $"msgTEST{Interlocked.Increment(ref sequence)}", fail_list = failed });
            }));
    }

    /// <summary>
    /// groupchat/get for any chat id: its owner from <paramref name="owners"/>, else <see cref="DefaultGroupOwner"/>
    /// (FACTS 5.7). The bot reads a group's owner before a group mass-message task, which goes only to the owner.
    /// </summary>
    public static void StubGroupOwners(WireMockServer server, IReadOnlyDictionary<string, string>? owners = null, int priority = 40)
    {
        server.Given(Request.Create().WithPath("/cgi-bin/externalcontact/groupchat/get").UsingPost()).AtPriority(priority)
            .RespondWith(Response.Create().WithCallback(request =>
            {
                var chat = JsonDocument.Parse(request.Body!).RootElement.GetProperty("chat_id").GetString() ?? "";
                var owner = owners?.GetValueOrDefault(chat) ?? DefaultGroupOwner;
                return Answer(new
                {
                    errcode = 0,
                    errmsg = "ok",
                    group_chat = new
                    {
                        chat_id = chat, name = "群 " + chat, owner, create_time = 1_700_000_000,
                        member_list = new object[] { new { userid = owner, type = 1, join_time = 1, join_scene = 1 } },
                        admin_list = Array.Empty<object>(),
                    },
                });
            }));
    }

    private static IEnumerable<string> Strings(JsonElement body, string name) =>
        body.TryGetProperty(name, out var list) && list.ValueKind == JsonValueKind.Array
            ? list.EnumerateArray().Select(e => e.GetString() ?? "").ToList()
            : [];

    private static WireMock.ResponseMessage Answer(object json) => new()
    {
        StatusCode = 200,
        Headers = new Dictionary<string, WireMock.Types.WireMockList<string>> { ["Content-Type"] = new("application/json") },
        BodyData = new WireMock.Util.BodyData
        {
            BodyAsString = JsonSerializer.Serialize(json),
            DetectedBodyType = WireMock.Types.BodyType.String,
            Encoding = System.Text.Encoding.UTF8,
        },
    };

    private static object Contact(string id, string name, string[] tags) => new
    {
        errcode = 0,
        errmsg = "ok",
        external_contact = new { external_userid = id, name, type = 1, gender = 0 },
        follow_user = new object[]
        {
            new
            {
                userid = "guide01",
                createtime = 1_700_000_000,
                add_way = 1,
                tags = tags.Select(t => new
                {
                    group_name = t[..t.IndexOf('/')],
                    tag_name = t[(t.IndexOf('/') + 1)..],
                    tag_id = t == "生命周期/新客" ? NewCustomerTagId : "et" + t.GetHashCode(StringComparison.Ordinal),
                    type = 1,
                }).ToArray(),
            },
        },
    };

    /// <summary>Requests WeCom received at <paramref name="path"/> (under /cgi-bin/ unless it starts with '/').</summary>
    public static IReadOnlyList<ILogEntry> Calls(WireMockServer server, string path)
    {
        var full = path.StartsWith('/') ? path : "/cgi-bin/" + path;
        return server.LogEntries.Where(e => e.RequestMessage!.Path == full).ToList();
    }

    /// <summary>The status WireMock answered; a mapping without WithStatusCode answers 200 and records null.</summary>
    public static int StatusOf(ILogEntry entry) => entry.ResponseMessage?.StatusCode switch
    {
        null => 200,
        System.Net.HttpStatusCode status => (int)status,
        var other => Convert.ToInt32(other, System.Globalization.CultureInfo.InvariantCulture),
    };

    public static JsonElement Json(ILogEntry entry) => JsonDocument.Parse(entry.RequestMessage!.Body!).RootElement;

    /// <summary>
    /// Waits until <paramref name="count"/> matching calls arrived (the outbox sends in the background): each new log
    /// entry wakes the check, so nothing sleeps.
    /// </summary>
    public static async Task<IReadOnlyList<ILogEntry>> WaitForAsync(
        WireMockServer server, string path, int count = 1, Func<ILogEntry, bool>? where = null, TimeSpan? timeout = null)
    {
        using var arrived = new SemaphoreSlim(0);
        System.Collections.Specialized.NotifyCollectionChangedEventHandler onLogged = (_, _) => arrived.Release();
        server.LogEntriesChanged += onLogged;
        try
        {
            using var limit = new CancellationTokenSource(timeout ?? Eventually.DefaultTimeout);
            while (true)
            {
                var calls = Calls(server, path).Where(where ?? (_ => true)).ToList();
                if (calls.Count >= count)
                {
                    return calls;
                }
                try
                {
                    await arrived.WaitAsync(limit.Token);
                }
                catch (OperationCanceledException)
                {
                    Assert.Fail($"WeCom received {calls.Count} of {count} expected calls to {path}; it saw: "
                        + string.Join(", ", server.LogEntries.Select(e => e.RequestMessage!.Path)));
                }
            }
        }
        finally
        {
            server.LogEntriesChanged -= onLogged;
        }
    }

    /// <summary>Waits until a scalar query on the app's database satisfies <paramref name="done"/>.</summary>
    public static Task<long> WaitForDatabaseAsync(string databasePath, string sql, Func<long, bool> done, TimeSpan? timeout = null) =>
        Eventually.UntilAsync(() => ScalarAsync(databasePath, sql), done, value => $"'{sql}' is {value}", timeout);

    public static async Task<long> ScalarAsync(string databasePath, string sql)
    {
        await using var connection = new SqliteConnection($"Data Source={databasePath};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    public static string RemoveWelcomeTimeWindow(string rulesPath)
    {
        var file = Path.Combine(rulesPath, "welcome.yaml");
        var lines = File.ReadAllLines(file).Where(l => !l.Contains("between: \"09:00-22:00\"", StringComparison.Ordinal));
        File.WriteAllLines(file, lines);
        return file;
    }
}
