using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace Bot.Web.Admin;

/// <summary>Guards every `/admin` route: constant-time comparison of the configured key, closed when none is set.</summary>
internal sealed partial class AdminKeyFilter(IOptionsMonitor<AdminOptions> options, ILogger<AdminKeyFilter> logger) : IEndpointFilter
{
    public const string HeaderName = "X-Admin-Key";

    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var configured = options.CurrentValue;
        var http = context.HttpContext;
        if (!configured.Enabled)
        {
            // No key configured means the admin surface does not exist, rather than that it is open.
            return TypedResults.Problem("The admin API is disabled: set Admin:ApiKey to enable it.", statusCode: StatusCodes.Status404NotFound);
        }
        if (!Matches(PresentedKey(http.Request), configured.ApiKey))
        {
            Log.Refused(logger, http.Request.Path);
            return TypedResults.Problem("A valid admin API key is required.", statusCode: StatusCodes.Status401Unauthorized);
        }
        return await next(context);
    }

    private static string? PresentedKey(HttpRequest request)
    {
        if (request.Headers.TryGetValue(HeaderName, out var header) && header.Count == 1)
        {
            return header[0];
        }
        var authorization = request.Headers.Authorization.ToString();
        return authorization.StartsWith("Bearer ", StringComparison.Ordinal) ? authorization["Bearer ".Length..] : null;
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
