using Bot.Core.Campaigns.Preflight;
using Bot.Core.Outbox;
using Bot.Core.Campaigns.MassMessages;
using Bot.Core.WeCom.Api;
using Bot.Core.Inbox;
using Bot.Core.Campaigns.Lottery;
using Bot.Core.Rules;
using Bot.Core.Campaigns.Seeding;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace Bot.Host.Admin;

/// <summary>
/// The operators' surface under /admin, every route behind <see cref="AdminKeyFilter"/>. Public lottery
/// verification data is served outside it, at /lottery/{name}/audit, since anyone may check a draw.
/// </summary>
public static class AdminEndpoints
{
    public static IHostApplicationBuilder AddAdmin(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<AdminOptions>().BindConfiguration(AdminOptions.Section);
        builder.Services.AddProblemDetails();
        builder.Services.AddSingleton<AdminKeyFilter>();
        return builder;
    }

    public static IEndpointRouteBuilder MapAdmin(this IEndpointRouteBuilder app)
    {
        var admin = app.MapGroup("/admin");
        ((IEndpointConventionBuilder)admin).Add(AdminKeyFilter.Guard);
        ((IEndpointConventionBuilder)admin).Finally(AdminKeyFilter.CheckContentTypeAfterKey);
        admin.MapGet("/", StatusPage.RenderAsync).WithMetadata(AdminKeyFilter.KeyInQueryAllowed.Instance);
        admin.MapGet("/status", GetStatusAsync);
        admin.MapGet("/rules", GetRules);
        admin.MapGet("/inbox/parked", ListParkedAsync);
        admin.MapPost("/inbox/{id:long}/replay", ReplayAsync);
        admin.MapGet("/outbox", GetOutboxDepthAsync);
        admin.MapGet("/outbox/{state}", ListOutboxAsync);
        admin.MapGet("/customers/{externalUserId}/explain", ExplainAsync);
        admin.MapPost("/broadcasts", StartBroadcastAsync);
        admin.MapPost("/broadcasts/preflight", PreflightBroadcastAsync);
        admin.MapGet("/broadcasts", ListBroadcastsAsync);
        admin.MapGet("/broadcasts/{id:long}", GetBroadcastAsync);
        admin.MapGet("/lotteries/{name}", GetLotteryAuditAsync);
        admin.MapPost("/lotteries/{name}/entries", EnterLotteryAsync);
        admin.MapGet("/lotteries/{name}/preflight", PreflightLotteryAsync);
        admin.MapGet("/seeding", GetSeedingScheduleAsync);
        admin.MapGet("/seeding/{script}/preflight", PreflightSeedingAsync);
        admin.MapGet("/mass-messages", ListMassMessagesAsync);
        admin.MapAlarms();

        // Anyone may recompute a draw: commitment before, seed, entries and winners after.
        app.MapGet("/lottery/{name}/audit", GetLotteryAuditAsync);
        return app;
    }

    public sealed record StatusView(RuleSetStatus Rules, InboxStats Inbox, IReadOnlyList<OutboxDepth> Outbox, DateTimeOffset At);

    private static async Task<Ok<StatusView>> GetStatusAsync(RuleSetProvider rules, InboxStore inbox, OutboxStore outbox, TimeProvider time, CancellationToken ct) =>
        TypedResults.Ok(new StatusView(rules.Status, await inbox.GetStatsAsync(ct), await outbox.GetDepthAsync(ct), time.GetUtcNow()));

    private static Ok<object> GetRules(RuleSetProvider rules) =>
        TypedResults.Ok<object>(new
        {
            rules.Status.Version,
            rules.Status.LoadedAt,
            rules.Status.LastError,
            rules.Status.LastErrorAt,
            rules.Status.RejectedReloads,
            Errors = rules.Status.LastErrors.Select(e => e.ToString()),
            Summary = rules.Current.Summary(),
            Warnings = rules.Current.Warnings.Select(w => w.ToString()),
        });

    private static async Task<Ok<IReadOnlyList<InboxRecord>>> ListParkedAsync(InboxStore inbox, CancellationToken ct, int limit = 100) =>
        TypedResults.Ok(await inbox.ListParkedAsync(Math.Clamp(limit, 1, 1000), ct));

    private static async Task<Results<NoContent, ProblemHttpResult>> ReplayAsync(long id, InboxStore inbox, CancellationToken ct) =>
        await inbox.ReplayAsync(id, ct)
            ? TypedResults.NoContent()
            : TypedResults.Problem($"Inbox item {id} is not parked.", statusCode: StatusCodes.Status404NotFound);

    private static async Task<Ok<IReadOnlyList<OutboxDepth>>> GetOutboxDepthAsync(OutboxStore outbox, CancellationToken ct) =>
        TypedResults.Ok(await outbox.GetDepthAsync(ct));

    private static async Task<Results<Ok<IReadOnlyList<OutboxItem>>, ProblemHttpResult>> ListOutboxAsync(string state, OutboxStore outbox, CancellationToken ct, int limit = 100) =>
        Enum.TryParse<OutboxState>(state, ignoreCase: true, out var parsed)
            ? TypedResults.Ok(await outbox.ListByStateAsync(parsed, Math.Clamp(limit, 1, 1000), ct))
            : TypedResults.Problem($"Unknown outbox state '{state}'.", statusCode: StatusCodes.Status400BadRequest);

    /// <summary>What a customer received, was tagged or entered, and why (rule, file, line, rule-set version), newest first.</summary>
    /// <summary>What a customer was sent, tagged with or entered, newest first; each outbox item carries its rule and callback.</summary>
    /// <summary>A customer's outbound history: items addressed to them, and mass-message tasks they were a recipient of.</summary>
    public sealed record CustomerExplanation(string ExternalUserId, IReadOnlyList<OutboxItem> Outbox, IReadOnlyList<LotteryEntryRecord> LotteryEntries)
    {
        public IReadOnlyList<OutboxRecipient> MassMessages { get; init; } = [];
    }

    private static async Task<Ok<CustomerExplanation>> ExplainAsync(string externalUserId, OutboxStore outbox, LotteryService lotteries, CancellationToken ct, int limit = 100) =>
        TypedResults.Ok(new CustomerExplanation(
            externalUserId,
            await outbox.ListByCustomerAsync(externalUserId, Math.Clamp(limit, 1, 1000), ct),
            await lotteries.EntriesOfAsync(externalUserId, ct))
        {
            MassMessages = await outbox.ListByRecipientAsync(externalUserId, ct),
        });

    private static async Task<Results<Created<BroadcastSummary>, ValidationProblem>> StartBroadcastAsync(BroadcastRequest request, BroadcastService broadcasts, CancellationToken ct)
    {
        var errors = new List<System.ComponentModel.DataAnnotations.ValidationResult>();
        if (!System.ComponentModel.DataAnnotations.Validator.TryValidateObject(request, new(request), errors, validateAllProperties: true))
        {
            return TypedResults.ValidationProblem(errors.ToDictionary(e => e.MemberNames.FirstOrDefault() ?? "", e => new[] { e.ErrorMessage ?? "" }));
        }
        var summary = await broadcasts.StartAsync(request, ct);
        return TypedResults.Created($"/admin/broadcasts/{summary.Id}", summary);
    }

    /// <summary>Same body as POST /broadcasts; starts nothing. 503 while the shared limiter (Redis) cannot be read.</summary>
    private static async Task<Results<Ok<PreflightReport>, ValidationProblem, ProblemHttpResult>> PreflightBroadcastAsync(
        BroadcastRequest request, QuotaPreflight preflight, CancellationToken ct)
    {
        var errors = new List<System.ComponentModel.DataAnnotations.ValidationResult>();
        if (!System.ComponentModel.DataAnnotations.Validator.TryValidateObject(request, new(request), errors, validateAllProperties: true))
        {
            return TypedResults.ValidationProblem(errors.ToDictionary(e => e.MemberNames.FirstOrDefault() ?? "", e => new[] { e.ErrorMessage ?? "" }));
        }
        return await preflight.CheckAsync(request, ct) is { } report
            ? TypedResults.Ok(report)
            : TypedResults.Problem("The quota limiter cannot be reached; try again.", statusCode: StatusCodes.Status503ServiceUnavailable);
    }

    private static async Task<Ok<IReadOnlyList<BroadcastSummary>>> ListBroadcastsAsync(BroadcastService broadcasts, CancellationToken ct) =>
        TypedResults.Ok(await broadcasts.ListAsync(100, ct));

    private static async Task<Results<Ok<BroadcastProgress>, NotFound>> GetBroadcastAsync(long id, BroadcastService broadcasts, CancellationToken ct) =>
        await broadcasts.GetProgressAsync(id, ct) is { } progress ? TypedResults.Ok(progress) : TypedResults.NotFound();

    private static async Task<Results<Ok<LotteryAudit>, NotFound>> GetLotteryAuditAsync(string name, LotteryService lotteries, CancellationToken ct) =>
        await lotteries.GetAuditAsync(name, ct) is { } audit ? TypedResults.Ok(audit) : TypedResults.NotFound();

    public sealed record LotteryEntryRequest(string ExternalUserId, IReadOnlyList<string>? Tags);

    public sealed record LotteryEntryResponse(string Outcome);

    /// <summary>Entries from an H5 page or sidebar tool that knows the customer's external userid; same rules as the keyword.</summary>
    private static async Task<Results<Ok<LotteryEntryResponse>, ProblemHttpResult>> EnterLotteryAsync(
        string name, [FromBody] LotteryEntryRequest request, LotteryService lotteries, WeComDirectory directory, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(request.ExternalUserId))
        {
            return TypedResults.Problem("externalUserId is required.", statusCode: StatusCodes.Status400BadRequest);
        }
        var tags = request.Tags ?? await directory.GetCustomerTagNamesAsync(request.ExternalUserId, ct);
        var outcome = await lotteries.EnterAsync(name, request.ExternalUserId, null, tags.ToList(), "http", ct);
        return outcome == LotteryEntryOutcome.UnknownLottery
            ? TypedResults.Problem($"No lottery named '{name}'.", statusCode: StatusCodes.Status404NotFound)
            : TypedResults.Ok(new LotteryEntryResponse(outcome.ToString()));
    }

    private static async Task<Ok<IReadOnlyList<SeedingPostRow>>> GetSeedingScheduleAsync(SeedingStore seeding, CancellationToken ct, string? chatId = null) =>
        TypedResults.Ok(await seeding.GetScheduleAsync(chatId, ct));

    /// <summary>
    /// A run of the seeding script started now (a cron script: at its next occurrence) in the comma-separated groups,
    /// or in every live group it matches; starts nothing.
    /// </summary>
    private static async Task<Results<Ok<SeedingPreflightReport>, ProblemHttpResult>> PreflightSeedingAsync(
        string script, CampaignPreflight preflight, CancellationToken ct, string? groups = null)
    {
        var chatIds = groups?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var (lookup, report) = await preflight.CheckSeedingAsync(script, chatIds, ct);
        return Preflight(lookup, report, $"No seeding script named '{script}' in the live rules.");
    }

    /// <summary>The lottery's announcements in each group it has entries from, at its draw time (now if due).</summary>
    private static async Task<Results<Ok<LotteryPreflightReport>, ProblemHttpResult>> PreflightLotteryAsync(
        string name, CampaignPreflight preflight, CancellationToken ct)
    {
        var (lookup, report) = await preflight.CheckLotteryAsync(name, ct);
        return Preflight(lookup, report, $"No lottery named '{name}'.");
    }

    private static Results<Ok<T>, ProblemHttpResult> Preflight<T>(PreflightLookup lookup, T? report, string unknown) where T : class =>
        lookup switch
        {
            PreflightLookup.Found when report is not null => TypedResults.Ok(report),
            PreflightLookup.UnknownName => TypedResults.Problem(unknown, statusCode: StatusCodes.Status404NotFound),
            _ => TypedResults.Problem("The quota limiter cannot be reached; try again.", statusCode: StatusCodes.Status503ServiceUnavailable),
        };

    /// <summary>Tracked mass-message tasks, newest first, with their confirmation state and recipient counts.</summary>
    private static async Task<Ok<IReadOnlyList<MassMessageTaskView>>> ListMassMessagesAsync(
        MassMessageStore store, CancellationToken ct, string? state = null, int limit = 100) =>
        TypedResults.Ok(await store.ListAsync(state, Math.Clamp(limit, 1, 1000), ct));
}
