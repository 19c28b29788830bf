using Bot.Core.Groups;
using Bot.Core.Rules;

namespace Bot.Core.Campaigns.MassMessages;

/// <summary>
/// Resolves broadcast audiences from our own records. The group glob lives here, not in Groups: Groups comes after
/// Rules in the layering, so only a room before Rules (Campaigns) may use the one glob the rules use.
/// </summary>
internal static class BroadcastAudience
{
    /// <summary>The chat ids of the live (not dismissed) groups whose name matches <paramref name="glob"/>, ordinally ordered.</summary>
    /// <exception cref="ArgumentException">The glob uses syntax the rules' glob does not support.</exception>
    public static IReadOnlyList<string> GroupsMatching(IEnumerable<CustomerGroup> groups, string glob)
    {
        ArgumentNullException.ThrowIfNull(groups);
        var compiled = Glob.TryCompile(glob, out var error) ?? throw new ArgumentException(error, nameof(glob));
        return groups
            .Where(g => !g.Dismissed && g.Name is not null && compiled.IsMatch(g.Name))
            .Select(g => g.ChatId)
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal)
            .ToList();
    }
}
