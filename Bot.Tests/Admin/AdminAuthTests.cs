using System.Net;
using System.Text;
using Bot.Tests.Fixtures;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.Extensions.DependencyInjection;

namespace Bot.Tests.Admin;

/// <summary>
/// Every route under /admin, read from the app's own endpoint table so a route added later is covered without
/// touching this file: closed without the right key, absent when no key is configured.
/// </summary>
public sealed class AdminAuthTests
{
    private const string WrongKey = "test-admin-key-0123456788";

    [Test]
    public async Task Every_admin_route_refuses_a_request_without_a_key()
    {
        using var app = new BotApp();
        var refusals = await SendToEveryAdminRouteAsync(app, _ => { });

        Assert.That(refusals.Where(r => r.Status != HttpStatusCode.Unauthorized), Is.Empty, "routes that did not answer 401");
    }

    [Test]
    public async Task Every_admin_route_refuses_a_wrong_key_in_the_header_the_bearer_token_or_the_query()
    {
        using var app = new BotApp();
        var header = await SendToEveryAdminRouteAsync(app, r => r.Headers.Add("X-Admin-Key", WrongKey));
        var bearer = await SendToEveryAdminRouteAsync(app, r => r.Headers.Authorization = new("Bearer", WrongKey));
        var query = await SendToEveryAdminRouteAsync(app, r => r.RequestUri = WithQueryKey(r.RequestUri!, WrongKey));

        Assert.That(header.Concat(bearer).Concat(query).Where(r => r.Status != HttpStatusCode.Unauthorized), Is.Empty, "routes that did not answer 401");
    }

    [Test]
    public async Task Only_the_status_page_accepts_the_key_as_a_query_parameter()
    {
        using var app = new BotApp();
        var answers = await SendToEveryAdminRouteAsync(app, r => r.RequestUri = WithQueryKey(r.RequestUri!, BotApp.AdminKey));

        var accepted = answers.Where(r => r.Status != HttpStatusCode.Unauthorized).Select(r => r.Route).ToList();
        Assert.That(accepted, Is.EqualTo(new[] { "GET /admin/" }));
    }

    [Test]
    public async Task With_no_key_configured_every_admin_route_is_absent_rather_than_open()
    {
        using var app = new BotApp(settings: new Dictionary<string, string?> { ["Admin:ApiKey"] = "" });
        var bare = await SendToEveryAdminRouteAsync(app, _ => { });
        // An empty key must not match an empty configured key either.
        var emptyHeader = await SendToEveryAdminRouteAsync(app, r => r.Headers.TryAddWithoutValidation("X-Admin-Key", ""));
        var someKey = await SendToEveryAdminRouteAsync(app, r => r.Headers.Add("X-Admin-Key", BotApp.AdminKey));

        Assert.That(bare.Concat(emptyHeader).Concat(someKey).Where(r => r.Status != HttpStatusCode.NotFound), Is.Empty, "routes that did not answer 404");
    }

    [Test]
    public async Task The_right_key_reaches_every_admin_handler()
    {
        using var app = new BotApp();
        var answers = await SendToEveryAdminRouteAsync(app, r => r.Headers.Add("X-Admin-Key", BotApp.AdminKey));
        var bearer = await SendToEveryAdminRouteAsync(app, r => r.Headers.Authorization = new("Bearer", BotApp.AdminKey));

        // Handlers may still say 400 (the probe's body) or 404 (no broadcast 1); what matters is the filter let them through.
        Assert.That(answers.Concat(bearer).Where(r => r.Status is HttpStatusCode.Unauthorized or >= HttpStatusCode.InternalServerError), Is.Empty);
        Assert.That(answers.Single(r => r.Route == "GET /admin/rules").Status, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(answers.Single(r => r.Route == "GET /admin/").Status, Is.EqualTo(HttpStatusCode.OK));
    }

    [TestCase("text/plain")]
    [TestCase("application/x-www-form-urlencoded")]
    [TestCase("application/xml")]
    public async Task Every_admin_route_refuses_a_request_without_a_key_whatever_the_content_type_of_its_body(string contentType)
    {
        using var app = new BotApp();
        var refusals = await SendToEveryAdminRouteAsync(app, r =>
        {
            if (r.Content is not null)
            {
                r.Content = new StringContent("name=x", Encoding.UTF8, contentType);
            }
        });

        // The key is checked before the body is looked at: a caller without one learns nothing about the route.
        Assert.That(refusals.Where(r => r.Status != HttpStatusCode.Unauthorized), Is.Empty, "routes that did not answer 401");
    }

    [Test]
    public async Task With_the_key_a_body_that_is_not_json_is_still_refused_as_an_unsupported_media_type()
    {
        using var app = new BotApp();
        var answers = await SendToEveryAdminRouteAsync(app, r =>
        {
            r.Headers.Add("X-Admin-Key", BotApp.AdminKey);
            if (r.Content is not null)
            {
                r.Content = new StringContent("name=x", Encoding.UTF8, "text/plain");
            }
        });

        // Replay and clearing an alarm take no body.
        Assert.That(answers.Where(a => a.Route.StartsWith("POST ", StringComparison.Ordinal) && !a.Route.EndsWith("/replay", StringComparison.Ordinal)
                && !a.Route.EndsWith("/clear", StringComparison.Ordinal)).Select(a => a.Status),
            Is.Not.Empty.And.All.EqualTo(HttpStatusCode.UnsupportedMediaType));
    }

    [Test]
    public async Task Every_admin_answer_forbids_caching_framing_content_sniffing_and_referrers()
    {
        using var app = new BotApp();
        using var disabled = new BotApp(settings: new Dictionary<string, string?> { ["Admin:ApiKey"] = "" });
        var answers = (await SendToEveryAdminRouteAsync(app, r => r.Headers.Add("X-Admin-Key", BotApp.AdminKey)))
            .Concat(await SendToEveryAdminRouteAsync(app, _ => { }))
            .Concat(await SendToEveryAdminRouteAsync(app, r => r.RequestUri = WithQueryKey(r.RequestUri!, BotApp.AdminKey)))
            .Concat(await SendToEveryAdminRouteAsync(disabled, _ => { }))
            .ToList();

        Assert.That(answers.Select(a => a.Status).Distinct(), Does.Contain(HttpStatusCode.OK).And.Contain(HttpStatusCode.Unauthorized).And.Contain(HttpStatusCode.NotFound));
        Assert.Multiple(() =>
        {
            foreach (var answer in answers)
            {
                var where = $"{answer.Route} ({(int)answer.Status})";
                Assert.That(answer.Header("Cache-Control"), Does.Contain("no-store"), where);
                Assert.That(answer.Header("Referrer-Policy"), Is.EqualTo("no-referrer"), where);
                Assert.That(answer.Header("X-Content-Type-Options"), Is.EqualTo("nosniff"), where);
                Assert.That(answer.Header("Content-Security-Policy"), Does.Contain("frame-ancestors 'none'"), where);
            }
        });
    }

    [Test]
    public async Task The_admin_routes_probed_include_every_kind_of_admin_operation()
    {
        using var app = new BotApp();
        var routes = AdminRoutes(app).Select(r => $"{r.Method} {r.Pattern}").ToList();

        // Guards the enumeration itself: if it found nothing, the tests above would pass vacuously.
        Assert.That(routes, Does.Contain("GET /admin/").And.Contain("POST /admin/inbox/{id:long}/replay")
            .And.Contain("POST /admin/broadcasts").And.Contain("POST /admin/lotteries/{name}/entries"));
        Assert.That(routes.Where(r => !r.Contains(" /admin/", StringComparison.Ordinal)), Is.Empty);
    }

    [Test]
    public async Task The_public_lottery_audit_needs_no_key_and_answers_404_for_an_unknown_lottery()
    {
        using var app = new BotApp();
        using var client = app.CreateClient();

        var known = await client.GetAsync("/lottery/weekend-coffee/audit");
        var unknown = await client.GetAsync("/lottery/no-such-lottery/audit");

        Assert.That(known.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await known.Content.ReadAsStringAsync(), Does.Contain("weekend-coffee"));
        Assert.That(unknown.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
    }

    private sealed record AdminRoute(string Method, string Pattern, string Path);

    private sealed record Answer(string Route, HttpStatusCode Status, IReadOnlyDictionary<string, string> Headers)
    {
        public string Header(string name) => Headers.TryGetValue(name, out var value) ? value : "(absent)";

        public override string ToString() => $"{Route} {(int)Status}";
    }

    private static List<AdminRoute> AdminRoutes(BotApp app)
    {
        var endpoints = app.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>();
        var routes = new List<AdminRoute>();
        foreach (var endpoint in endpoints)
        {
            var pattern = endpoint.RoutePattern;
            if (!("/" + pattern.RawText?.TrimStart('/')).StartsWith("/admin", StringComparison.Ordinal))
            {
                continue;
            }
            var methods = endpoint.Metadata.GetMetadata<Microsoft.AspNetCore.Routing.HttpMethodMetadata>()?.HttpMethods ?? ["GET"];
            foreach (var method in methods)
            {
                routes.Add(new AdminRoute(method, "/" + pattern.RawText!.TrimStart('/'), PathFor(pattern)));
            }
        }
        return routes;
    }

    private static string PathFor(RoutePattern pattern)
    {
        var path = new StringBuilder();
        foreach (var segment in pattern.PathSegments)
        {
            path.Append('/');
            foreach (var part in segment.Parts)
            {
                path.Append(part switch
                {
                    RoutePatternLiteralPart literal => literal.Content,
                    RoutePatternParameterPart parameter when parameter.ParameterPolicies.Any(p => p.Content is "long" or "int") => "1",
                    RoutePatternParameterPart => "x",
                    RoutePatternSeparatorPart separator => separator.Content,
                    _ => throw new InvalidOperationException($"unexpected route part in {pattern.RawText}"),
                });
            }
        }
        return path.Length == 0 ? "/" : path.ToString();
    }

    private static async Task<List<Answer>> SendToEveryAdminRouteAsync(BotApp app, Action<HttpRequestMessage> prepare)
    {
        using var client = app.CreateClient();
        var answers = new List<Answer>();
        foreach (var route in AdminRoutes(app))
        {
            using var request = new HttpRequestMessage(new HttpMethod(route.Method), route.Path);
            if (route.Method is "POST" or "PUT" or "PATCH")
            {
                // A body the handler would accept in shape, so a refusal cannot be a binding error in disguise.
                request.Content = new StringContent("{}", Encoding.UTF8, "application/json");
            }
            prepare(request);
            using var response = await client.SendAsync(request);
            var headers = response.Headers.Concat(response.Content.Headers)
                .ToDictionary(h => h.Key, h => string.Join(", ", h.Value), StringComparer.OrdinalIgnoreCase);
            answers.Add(new Answer($"{route.Method} {route.Pattern}", response.StatusCode, headers));
        }
        Assert.That(answers, Has.Count.GreaterThanOrEqualTo(10), "the endpoint table lists the admin routes");
        return answers;
    }

    private static Uri WithQueryKey(Uri relative, string key) =>
        new($"{relative.OriginalString}?key={Uri.EscapeDataString(key)}", UriKind.Relative);
}
