namespace Bot.Core.WeCom;

/// <summary>What a WeCom user id says about who it names.</summary>
public static class WeComUserIds
{
    /// <summary>
    /// External contacts' ids start with "wm" or "wo"; staff userids (app messages, a robot's one-to-one with staff)
    /// never do.
    /// </summary>
    public static bool IsExternal(string userId) =>
        userId.StartsWith("wm", StringComparison.Ordinal) || userId.StartsWith("wo", StringComparison.Ordinal);
}
