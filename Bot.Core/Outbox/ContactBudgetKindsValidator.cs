using Bot.Core.Contacts;
using Microsoft.Extensions.Options;

namespace Bot.Core.Outbox;

/// <summary>
/// Every kind the contact budget lists must be one the outbox stores; a misspelt kind would otherwise budget nothing
/// without a word. Contacts sits below the outbox and cannot know its kinds, so the outbox checks them.
/// </summary>
internal sealed class ContactBudgetKindsValidator : IValidateOptions<ContactBudgetOptions>
{
    public ValidateOptionsResult Validate(string? name, ContactBudgetOptions options)
    {
        var unknown = options.Kinds.Keys.Where(kind => OutboxKinds.Find(kind) is null)
            .Select(kind => $"ContactBudget:Kinds:{kind} is not an outbound kind.").ToList();
        return unknown.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(unknown);
    }
}
