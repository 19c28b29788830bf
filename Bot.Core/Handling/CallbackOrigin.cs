using System.Globalization;
using Bot.Core.Outbox;
using Bot.Core.Rules;

namespace Bot.Core.Handling;

/// <summary>
/// The callback a handler is acting on and the rule set it was planned with: every outbound action it writes names
/// both, for "explain", and takes its idempotency key from the callback.
/// </summary>
internal sealed record CallbackOrigin(StoredCallback Item, string RuleSetVersion)
{
    private string CallbackId => Item.Id.ToString(CultureInfo.InvariantCulture);

    public OutboxProvenance For(RuleRef rule) => new(CallbackId, rule.Name, rule.File, rule.Line, rule.RuleSetVersion);

    /// <summary>For an action no rule asked for (the confirmation of 退订/订阅).</summary>
    public OutboxProvenance WithoutRule() => new(CallbackId, RuleSetVersion: RuleSetVersion);

    /// <summary>A rule's tags for one customer, once per callback, rule and customer.</summary>
    public OutboxRequest Tags(AddTags tags) =>
        OutboxRequest.For(new TagChange(tags.UserId, tags.ExternalUserId, tags.Tags),
            $"tags:{Item.DedupeKey}:{tags.Rule.Name}:{tags.ExternalUserId}", For(tags.Rule));
}
