using Bot.Core.Campaigns.MassMessages;
using Bot.Core.Groups;

namespace Bot.Tests.Contacts;

/// <summary>Groups selected by a name glob for a broadcast: the rules' glob, live groups only.</summary>
public sealed class BroadcastAudienceTests
{
    private static readonly CustomerGroup[] Groups =
    [
        new() { ChatId = "wrC", Name = "🎉上海VIP群2", Owner = "guide01" },
        new() { ChatId = "wrA", Name = "🎉上海VIP群1", Owner = "guide02" },
        new() { ChatId = "wrB", Name = "北京VIP群", Owner = "guide01" },
        new() { ChatId = "wrD", Name = "🎉上海VIP群3", Owner = "guide01", Dismissed = true },
        new() { ChatId = "wrE", Name = null, Owner = "guide01" },
    ];

    [Test]
    public void Emoji_and_cjk_names_match_and_dismissed_groups_do_not()
    {
        Assert.That(BroadcastAudience.GroupsMatching(Groups, "🎉上海*"), Is.EqualTo(new[] { "wrA", "wrC" }));
        Assert.That(BroadcastAudience.GroupsMatching(Groups, "*VIP群"), Is.EqualTo(new[] { "wrB" }));
    }

    [Test]
    public void A_star_selects_every_live_named_group() =>
        Assert.That(BroadcastAudience.GroupsMatching(Groups, "*"), Is.EqualTo(new[] { "wrA", "wrB", "wrC" }));

    [Test]
    public void No_match_is_empty_and_a_bad_glob_is_refused()
    {
        Assert.That(BroadcastAudience.GroupsMatching(Groups, "广州*"), Is.Empty);
        Assert.Throws<ArgumentException>(() => BroadcastAudience.GroupsMatching(Groups, "[ab]*"));
    }
}
