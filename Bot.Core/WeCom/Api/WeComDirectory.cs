using Microsoft.Extensions.Caching.Memory;

namespace Bot.Core.WeCom.Api;

/// <summary>
/// Cached look-ups of names and tags the rules need: customer names (externalcontact/get), guide names (user/get),
/// group chats (groupchat/get) and the corp tag list (get_corp_tag_list). Names change rarely and every
/// look-up spends API quota, so they are cached for minutes; the tag list is dropped on "external tag changed".
/// </summary>
public sealed class WeComDirectory(WeComApiClient api, IMemoryCache cache)
{
    private static readonly TimeSpan NameLifetime = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan GroupLifetime = TimeSpan.FromMinutes(2);
    private const string TagListKey = "wecom:corp-tags";

    public async Task<ExternalContactInfo> GetCustomerAsync(string externalUserId, CancellationToken ct) =>
        (await cache.GetOrCreateAsync(("customer", externalUserId), async entry =>
        {
            entry.AbsoluteExpirationRelativeToNow = NameLifetime;
            return await api.GetExternalContactAsync(externalUserId, null, ct);
        }))!;

    public async Task<string> GetGuideNameAsync(string userId, CancellationToken ct) =>
        (await cache.GetOrCreateAsync(("guide", userId), async entry =>
        {
            entry.AbsoluteExpirationRelativeToNow = NameLifetime;
            return (await api.GetUserAsync(userId, ct)).Name;
        }))!;

    public async Task<GroupChat> GetGroupAsync(string chatId, CancellationToken ct) =>
        (await cache.GetOrCreateAsync(("group", chatId), async entry =>
        {
            entry.AbsoluteExpirationRelativeToNow = GroupLifetime;
            return await api.GetGroupChatAsync(chatId, ct);
        }))!;

    /// <summary>The customer's corp tags as "group/tag" names, across every guide who follows them.</summary>
    public async Task<IReadOnlyCollection<string>> GetCustomerTagNamesAsync(string externalUserId, CancellationToken ct) =>
        (await GetCustomerAsync(externalUserId, ct)).FollowUsers.SelectMany(f => f.Tags).Select(t => $"{t.GroupName}/{t.TagName}").ToHashSet();

    public void ForgetGroup(string chatId) => cache.Remove(("group", chatId));

    public void ForgetCustomer(string externalUserId) => cache.Remove(("customer", externalUserId));

    public void ForgetTags() => cache.Remove(TagListKey);

    /// <summary>
    /// Resolves "group/tag" names to WeCom tag ids, creating the missing ones with add_corp_tag (once per name:
    /// the created ids go straight into the cached list).
    /// </summary>
    public async Task<IReadOnlyList<string>> ResolveTagIdsAsync(IReadOnlyList<string> names, CancellationToken ct)
    {
        var groups = await cache.GetOrCreateAsync(TagListKey, async entry =>
        {
            entry.AbsoluteExpirationRelativeToNow = TimeSpan.FromHours(1);
            return (await api.GetCorpTagListAsync(null, null, ct)).ToList();
        }) ?? [];
        var ids = new List<string>(names.Count);
        foreach (var name in names)
        {
            var slash = name.IndexOf('/');
            var (groupName, tagName) = (name[..slash], name[(slash + 1)..]);
            var group = groups.FirstOrDefault(g => !g.Deleted && g.GroupName == groupName);
            var tag = group?.Tags.FirstOrDefault(t => !t.Deleted && t.Name == tagName);
            if (tag is null)
            {
                var created = await api.AddCorpTagAsync(new AddCorpTagRequest
                {
                    GroupId = group?.GroupId,
                    GroupName = group is null ? groupName : null,
                    Tags = [new NewCorpTag { Name = tagName }],
                }, ct);
                lock (groups)
                {
                    var existing = groups.FindIndex(g => g.GroupId == created.GroupId);
                    if (existing >= 0)
                    {
                        groups[existing] = groups[existing] with { Tags = [.. groups[existing].Tags, .. created.Tags] };
                    }
                    else
                    {
                        groups.Add(created);
                    }
                }
                tag = created.Tags.First(t => t.Name == tagName);
            }
            ids.Add(tag.Id);
        }
        return ids;
    }
}
