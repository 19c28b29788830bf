using Bot.Core.Outbox;
using Bot.Core.Rules;
using Bot.Core.WeCom.Api;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ApiAttachment = Bot.Core.WeCom.Api.Attachment;

namespace Bot.Core.Handling;

/// <summary>A customer added a guide: the welcome (while its code lives) and the rules' tags.</summary>
internal sealed partial class ContactAddedHandler(
    RulePlanner planner,
    WeComDirectory directory,
    NameLookup names,
    OutboxWriter outbox,
    IOptions<HandlingOptions> handlingOptions,
    TimeProvider time,
    ILogger<ContactAddedHandler> logger)
{
    public async Task HandleAsync(
        RuleSet ruleSet, CallbackOrigin origin, string userId, string externalUserId, string? state, string? welcomeCode, CancellationToken ct)
    {
        // A welcome without a name beats no welcome: the code dies in 20 s, and a failed handler would be retried only
        // after it has. Both lookups share one budget, so a slow or busy directory delays the welcome by at most that much.
        var spend = handlingOptions.Value.WelcomeLookupBudget;
        using var budget = new CancellationTokenSource(spend, time);
        using var lookup = CancellationTokenSource.CreateLinkedTokenSource(ct, budget.Token);
        var customerLookup = names.NameOrAsync(() => directory.GetCustomerAsync(externalUserId, lookup.Token), c => c.Contact.Name, "", ct, spend);
        var guideLookup = names.NameOrAsync(() => directory.GetGuideNameAsync(userId, lookup.Token), n => n, "", ct, spend);
        var customerName = await customerLookup;
        var guideName = await guideLookup;
        var actions = planner.PlanContactAdded(ruleSet, new ContactAddedInput(userId, externalUserId, state, welcomeCode, customerName, guideName, origin.Item.ReceivedAt));
        var requests = new List<OutboxRequest>();
        foreach (var action in actions)
        {
            switch (action)
            {
                case SendWelcome welcome:
                    var request = new SendWelcomeRequest
                    {
                        WelcomeCode = welcome.WelcomeCode,
                        Text = new MessageText(welcome.Text),
                        Attachments = welcome.Attachments.Count == 0 ? null : welcome.Attachments.Select(ToApi).ToList(),
                    };
                    // A welcome code is single-use, so it names the welcome across retries and instances.
                    requests.Add(OutboxRequest.For(new WelcomeMessage(externalUserId, userId, request, state, origin.Item.ReceivedAt),
                        $"welcome:{welcome.WelcomeCode}", origin.For(welcome.Rule)));
                    break;
                case WelcomeSkipped skipped:
                    Log.WelcomeSkipped(logger, externalUserId, skipped.Rule.Name, skipped.Reason);
                    break;
                case AddTags tags:
                    requests.Add(origin.Tags(tags));
                    break;
            }
        }
        if (requests.Count > 0)
        {
            await outbox.EnqueueBatchAsync(requests, ct);
        }
    }

    private static ApiAttachment ToApi(Bot.Core.Rules.Attachment attachment) => attachment switch
    {
        Bot.Core.Rules.ImageAttachment a => ApiAttachment.ForImage(new WeCom.Api.ImageAttachment { MediaId = a.MediaId, PicUrl = a.PicUrl }),
        Bot.Core.Rules.LinkAttachment a => ApiAttachment.ForLink(new WeCom.Api.LinkAttachment { Title = a.Title, Url = a.Url, PicUrl = a.PicUrl, Desc = a.Desc }),
        Bot.Core.Rules.MiniProgramAttachment a => ApiAttachment.ForMiniProgram(new WeCom.Api.MiniProgramAttachment { Title = a.Title, PicMediaId = a.PicMediaId, AppId = a.AppId, Page = a.Page }),
        Bot.Core.Rules.VideoAttachment a => ApiAttachment.ForVideo(a.MediaId),
        Bot.Core.Rules.FileAttachment a => ApiAttachment.ForFile(a.MediaId),
        _ => throw new ArgumentOutOfRangeException(nameof(attachment)),
    };

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "No welcome for {ExternalUserId} (rule {Rule}): {Reason}")]
        public static partial void WelcomeSkipped(ILogger logger, string externalUserId, string rule, string reason);
    }
}
