using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace Bot.Host.Admin;

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
    /// Puts the key check in front of <paramref name="endpoint"/>'s whole request delegate. An endpoint filter would run
    /// only after parameter binding, so a caller without a key could still get 400 for a malformed body.
    /// </summary>
    public static void Guard(EndpointBuilder endpoint)
    {
        var inner = endpoint.RequestDelegate ?? throw new InvalidOperationException($"{endpoint.DisplayName} has no request delegate");
        endpoint.RequestDelegate = http => http.RequestServices.GetRequiredService<AdminKeyFilter>().InvokeAsync(http, inner);
    }

    /// <summary>
    /// Takes the accepted content types off <paramref name="endpoint"/>. Routing would otherwise answer 415 for a
    /// non-JSON body before <see cref="Guard"/> runs, telling a caller without a key which routes take a body; the
    /// handler's own binding still answers 415 once the key has been checked.
    /// </summary>
    public static void CheckContentTypeAfterKey(EndpointBuilder endpoint)
    {
        for (var i = endpoint.Metadata.Count - 1; i >= 0; i--)
        {
            if (endpoint.Metadata[i] is Microsoft.AspNetCore.Http.Metadata.IAcceptsMetadata)
            {
                endpoint.Metadata.RemoveAt(i);
            }
        }
    }

    public async Task InvokeAsync(HttpContext http, RequestDelegate next)
    {
        AddSecurityHeaders(http.Response.Headers);
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

    /// <summary>
    /// On every admin answer, refusals included. Answers hold customer data and the status page may carry the key in
    /// its URL: no cache keeps them, no referrer leaks the URL, no other site frames the page, and no browser guesses
    /// a JSON body to be HTML. The page itself needs nothing but its inline style.
    /// </summary>
    private static void AddSecurityHeaders(IHeaderDictionary headers)
    {
        headers.CacheControl = "no-store";
        headers["Referrer-Policy"] = "no-referrer";
        headers.XContentTypeOptions = "nosniff";
        headers.XFrameOptions = "DENY";
        headers.ContentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
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
