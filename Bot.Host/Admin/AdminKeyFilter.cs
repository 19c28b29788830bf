using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace Bot.Web.Admin;

/// <summary>Guards every `/admin` route: constant-time comparison of the configured key, closed when none is set.</summary>
internal sealed partial class AdminKeyFilter(IOptionsMonitor<AdminOptions> options, ILogger<AdminKeyFilter> logger)
{
    public const string HeaderName = "X-Admin-Key";

    public const string QueryName = "key";

    /// <summary>
    /// Endpoint metadata that lets a GET page take the key as <c>?key=</c>, for a browser that cannot send a header.
    /// Only the read-only status page carries it: a key in a URL ends up in browser history, so no route that
    /// changes anything may accept one.
    /// </summary>
    public sealed class KeyInQueryAllowed
    {
        public static readonly KeyInQueryAllowed Instance = new();

        private KeyInQueryAllowed()
        {
        }
    }

    /// <summary>
    /// Runs the key check as middleware on every request under <c>/admin</c>, after routing has picked the endpoint (so
    /// <see cref="KeyInQueryAllowed"/> is visible) but before the endpoint runs. Neither an endpoint filter nor a wrapped
    /// request delegate is early enough: binding answers 400 for a malformed body, and routing itself answers 415 for a
    /// non-JSON content type through an endpoint of its own, so a caller without a key would learn which routes take
    /// a body.
    /// </summary>
    public static void Guard(IApplicationBuilder app) =>
        app.UseWhen(
            static http => http.Request.Path.StartsWithSegments(AdminEndpoints.Prefix, StringComparison.OrdinalIgnoreCase),
            static admin => admin.Use(static (http, next) => http.RequestServices.GetRequiredService<AdminKeyFilter>().InvokeAsync(http, next)));

    public async Task InvokeAsync(HttpContext http, RequestDelegate next)
    {
        // Set before anything is written, so refusals carry them too. The pages hold customer data and the key may
        // come in the query: nothing is cached, no Referer leaves, no other site may frame them, no sniffing.
        var headers = http.Response.Headers;
        headers.CacheControl = "no-store";
        headers["Referrer-Policy"] = "no-referrer";
        headers.ContentSecurityPolicy = "frame-ancestors 'none'";
        headers.XContentTypeOptions = "nosniff";

        var configured = options.CurrentValue;
        if (!configured.Enabled)
        {
            // No key configured means the admin surface does not exist, rather than that it is open.
            await TypedResults.Problem("The admin API is disabled: set Admin:ApiKey to enable it.", statusCode: StatusCodes.Status404NotFound)
                .ExecuteAsync(http);
            return;
        }
        if (!Matches(PresentedKey(http), configured.ApiKey))
        {
            Log.Refused(logger, http.Request.Path);
            await TypedResults.Problem("A valid admin API key is required.", statusCode: StatusCodes.Status401Unauthorized).ExecuteAsync(http);
            return;
        }
        await next(http);
    }

    private static string? PresentedKey(HttpContext http)
    {
        var request = http.Request;
        if (request.Headers.TryGetValue(HeaderName, out var header) && header.Count == 1)
        {
            return header[0];
        }
        var authorization = request.Headers.Authorization.ToString();
        if (authorization.StartsWith("Bearer ", StringComparison.Ordinal))
        {
            return authorization["Bearer ".Length..];
        }
        return HttpMethods.IsGet(request.Method)
            && http.GetEndpoint()?.Metadata.GetMetadata<KeyInQueryAllowed>() is not null
            && request.Query.TryGetValue(QueryName, out var query) && query.Count == 1
                ? query[0]
                : null;
    }

    private static bool Matches(string? presented, string expected)
    {
        if (presented is null)
        {
            return false;
        }
        // Hash both sides first so the comparison time depends on neither the key's length nor its content.
        var a = SHA256.HashData(Encoding.UTF8.GetBytes(presented));
        var b = SHA256.HashData(Encoding.UTF8.GetBytes(expected));
        return CryptographicOperations.FixedTimeEquals(a, b);
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Admin request to {Path} refused: missing or wrong API key")]
        public static partial void Refused(ILogger logger, PathString path);
    }
}
