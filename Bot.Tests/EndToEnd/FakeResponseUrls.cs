using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using WireMock;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;
using WireMock.Types;
using WireMock.Util;

namespace Bot.Tests.EndToEnd;

/// <summary>
/// Robot response_urls as strict as WeCom's (doc 101138, FACTS §4.2): each URL takes one POST, within an hour of
/// being issued. The first POST answers errcode 0; a second POST, or one after the hour, answers an error. WeCom
/// documents no errcode for a used or expired URL, so the fake answers <see cref="SpentErrCode"/> (invalid
/// parameter, the code that names a bad response_code best); the bot must read any such refusal as "spent".
/// A URL names its issue time in the <c>issued</c> query (Unix seconds; built by <see cref="Url"/>); without it
/// the URL counts as issued at its first POST.
/// </summary>
internal sealed class FakeResponseUrls
{
    public const int SpentErrCode = 40058;
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(1);

    private readonly ConcurrentDictionary<string, byte> _used = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;

    private FakeResponseUrls(TimeProvider time) => _time = time;

    /// <summary>Answers POSTs under <paramref name="pathPattern"/> (WireMock wildcard) one time each.</summary>
    public static FakeResponseUrls Stub(WireMockServer server, string pathPattern = "/response/*", TimeProvider? time = null)
    {
        var fake = new FakeResponseUrls(time ?? TimeProvider.System);
        server.Given(Request.Create().WithPath(pathPattern).UsingPost())
            .RespondWith(Response.Create().WithCallback(fake.Answer));
        return fake;
    }

    /// <summary>A response_url on <paramref name="server"/> issued at <paramref name="issuedAt"/> (now when null).</summary>
    public static string Url(WireMockServer server, string name, DateTimeOffset? issuedAt = null) =>
        $"{server.Url}/response/{name}?response_code={name}&issued={(issuedAt ?? DateTimeOffset.UtcNow).ToUnixTimeSeconds()}";

    private ResponseMessage Answer(IRequestMessage request)
    {
        var issued = request.Query is { } query && query.TryGetValue("issued", out var values) && values.Count > 0
            ? DateTimeOffset.FromUnixTimeSeconds(long.Parse(values[0], CultureInfo.InvariantCulture))
            : (DateTimeOffset?)null;
        var key = request.Url;
        if (issued is { } at && _time.GetUtcNow() - at > Lifetime)
        {
            return Json(SpentErrCode, "response_code expired");
        }
        return _used.TryAdd(key, 0) ? Json(0, "ok") : Json(SpentErrCode, "response_code already used");
    }

    private static ResponseMessage Json(int errCode, string errMsg) => new()
    {
        StatusCode = 200,
        Headers = new Dictionary<string, WireMockList<string>> { ["Content-Type"] = new("application/json") },
        BodyData = new BodyData
        {
            DetectedBodyType = BodyType.String,
            BodyAsString = JsonSerializer.Serialize(new { errcode = errCode, errmsg = errMsg }),
        },
    };
}
