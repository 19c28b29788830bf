using Bot.Core.Contacts;
using Bot.Core.WeCom.Api;
using Microsoft.Extensions.Logging;

namespace Bot.Core.Campaigns.Lottery;

/// <summary>
/// Winners' display names for the announcement, from the WeCom directory. A host without the WeCom API (the CLI's
/// `lottery verify`) has no directory, and its announcements show external user ids.
/// </summary>
internal sealed partial class LotteryWinnerLookup(WeComDirectory? directory, ContactPreferenceStore preferences, ILogger<LotteryWinnerLookup> logger)
{
    /// <summary>How a lottery announcement names a winner who opted out of bot messages.</summary>
    public const string UnnamedWinner = "一位幸运顾客";

    public async Task<IReadOnlyDictionary<string, string>> NamesAsync(IReadOnlyCollection<string> externalUserIds, CancellationToken ct)
    {
        var names = new Dictionary<string, string>(StringComparer.Ordinal);
        if (directory is null)
        {
            return names;
        }
        foreach (var id in externalUserIds)
        {
            try
            {
                // A winner who opted out still wins (the draw is verifiable as drawn), but the group post does not name
                // them: it would be a message about them, as a group welcome's names are.
                names[id] = await preferences.IsOptedOutAsync(id, ct)
                    ? UnnamedWinner
                    : (await directory.GetCustomerAsync(id, ct)).Contact.Name;
            }
            catch (WeComApiException ex)
            {
                // One customer we cannot look up does not hold back the announcement; it shows their id instead.
                Log.NameUnavailable(logger, id, ex.ErrCode, ex);
            }
        }
        return names;
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "The name of lottery winner {ExternalUserId} could not be looked up (errcode {ErrCode}); the announcement shows the id")]
        public static partial void NameUnavailable(ILogger logger, string externalUserId, int errCode, Exception exception);
    }
}
