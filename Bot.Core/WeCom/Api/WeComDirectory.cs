using Bot.Core.Redis;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Bot.Core.WeCom.Api;

/// <summary>
/// Cached look-ups of names and tags the rules need: customer names (externalcontact/get), guide names (user/get),
/// group chats (groupchat/get) and the corp tag list (get_corp_tag_list). Names change rarely and every
/// look-up spends API quota, so they are cached for minutes; the tag list is dropped on "external tag changed".
/// </summary>
/// <remarks>Redis, when configured, makes tag creation single-flight across instances.</remarks>
public sealed partial class WeComDirectory(
    WeComApiClient api,
    IMemoryCache cache,
    TimeProvider? timeProvider = null,
    IConnectionMultiplexer? redis = null,
    IOptions<RedisOptions>? redisOptions = null,
    ILogger<WeComDirectory>? logger = null)
{
    private static readonly TimeSpan NameLifetime = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan TagListLifetime = TimeSpan.FromHours(1);
    // Longer than an add_corp_tag attempt normally takes; a holder that dies blocks the tag for at most this long.
    private static readonly TimeSpan TagLockTtl = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan TagLockPoll = TimeSpan.FromMilliseconds(50);

    private const string ReleaseIfOwner = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

    private readonly SemaphoreSlim _creating = new(1, 1);
    private readonly TimeProvider _time = timeProvider ?? TimeProvider.System;
    private readonly IConnectionMultiplexer? _redis = redis;
    private readonly IOptions<RedisOptions>? _redisOptions = redisOptions;
    private readonly ILogger<WeComDirectory>? _logger = logger;
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
    /// Resolves "group/tag" names to WeCom tag ids, creating the missing ones with add_corp_tag. add_corp_tag is not
    /// safe to repeat, so a missing tag is created once: concurrent resolutions in this process wait on one creation
    /// and read its id from the cache; with Redis, instances take a short lock per tag, and whoever waited re-reads
    /// get_corp_tag_list instead of creating it again. WeCom's "tag name exists" (40071) means someone else created it:
    /// the id comes from a fresh list.
    /// </summary>
    public async Task<IReadOnlyList<string>> ResolveTagIdsAsync(IReadOnlyList<string> names, CancellationToken ct)
    {
        var ids = new List<string>(names.Count);
        foreach (var name in names)
        {
            var slash = name.IndexOf('/');
            var (groupName, tagName) = (name[..slash], name[(slash + 1)..]);
            var tag = Find(await TagListAsync(ct), groupName, tagName) ?? await CreateOnceAsync(groupName, tagName, ct);
            ids.Add(tag.Id);
        }
        return ids;
    }

    private async Task<IReadOnlyList<CorpTagGroup>> TagListAsync(CancellationToken ct) =>
        await cache.GetOrCreateAsync(TagListKey, async entry =>
        {
            entry.AbsoluteExpirationRelativeToNow = TagListLifetime;
            return (IReadOnlyList<CorpTagGroup>)(await api.GetCorpTagListAsync(null, null, ct)).ToList();
        }) ?? [];

    private async Task<IReadOnlyList<CorpTagGroup>> ReloadTagListAsync(CancellationToken ct)
    {
        IReadOnlyList<CorpTagGroup> groups = (await api.GetCorpTagListAsync(null, null, ct)).ToList();
        cache.Set(TagListKey, groups, TagListLifetime);
        return groups;
    }

    private static CorpTag? Find(IReadOnlyList<CorpTagGroup> groups, string groupName, string tagName) =>
        groups.FirstOrDefault(g => !g.Deleted && g.GroupName == groupName)?.Tags.FirstOrDefault(t => !t.Deleted && t.Name == tagName);

    private async Task<CorpTag> CreateOnceAsync(string groupName, string tagName, CancellationToken ct)
    {
        // One creation at a time in this process: creations are rare, and whoever waited finds the tag in the cache.
        await _creating.WaitAsync(ct);
        try
        {
            if (Find(await TagListAsync(ct), groupName, tagName) is { } created)
            {
                return created;
            }
            while (true)
            {
                var owner = await TryLockAcrossInstancesAsync(groupName, tagName);
                if (owner is null)
                {
                    // Another instance holds the lock: it is creating the tag. Wait for it, then read what it made.
                    await WaitForLockAsync(groupName, tagName, ct);
                    if (Find(await ReloadTagListAsync(ct), groupName, tagName) is { } theirs)
                    {
                        return theirs;
                    }
                    continue;
                }
                try
                {
                    // With Redis, another instance may have created the tag before this one took the lock, after this
                    // one's list was cached; the re-read costs one call per creation, a duplicate add_corp_tag more.
                    if (_redis is not null && Find(await ReloadTagListAsync(ct), groupName, tagName) is { } earlier)
                    {
                        return earlier;
                    }
                    return await AddAsync(groupName, tagName, ct);
                }
                finally
                {
                    await ReleaseLockAsync(groupName, tagName, owner);
                }
            }
        }
        finally
        {
            _creating.Release();
        }
    }

    private async Task<CorpTag> AddAsync(string groupName, string tagName, CancellationToken ct)
    {
        var groups = await TagListAsync(ct);
        var group = groups.FirstOrDefault(g => !g.Deleted && g.GroupName == groupName);
        CorpTagGroup created;
        try
        {
            created = await api.AddCorpTagAsync(new AddCorpTagRequest
            {
                GroupId = group?.GroupId,
                GroupName = group is null ? groupName : null,
                Tags = [new NewCorpTag { Name = tagName }],
            }, ct);
        }
        catch (WeComApiException e) when (e.ErrCode == WeComErrorCodes.TagNameExists)
        {
            // Created elsewhere (the admin console, an instance without Redis): WeCom's list has its id.
            Log.TagAlreadyExists(Logger, groupName, tagName);
            return Find(await ReloadTagListAsync(ct), groupName, tagName)
                ?? throw new InvalidOperationException($"WeCom answered that tag {groupName}/{tagName} exists, but its tag list does not show it");
        }
        var index = groups.ToList().FindIndex(g => g.GroupId == created.GroupId);
        IReadOnlyList<CorpTagGroup> updated = index >= 0
            ? [.. groups.Select((g, i) => i == index ? g with { Tags = [.. g.Tags, .. created.Tags] } : g)]
            : [.. groups, created];
        cache.Set(TagListKey, updated, TagListLifetime);
        return created.Tags.First(t => t.Name == tagName);
    }

    private RedisKey TagLockKey(string groupName, string tagName) => $"{_redisOptions?.Value.KeyPrefix}wecom:tag-lock:{groupName}/{tagName}";

    /// <summary>
    /// The lock's owner value when this instance may create the tag; null when another instance holds the lock. Without
    /// Redis (or while it is unreachable) every instance may: 40071 then catches a race with another instance.
    /// </summary>
    private async Task<string?> TryLockAcrossInstancesAsync(string groupName, string tagName)
    {
        var owner = Guid.NewGuid().ToString("N");
        if (_redis is null)
        {
            return owner;
        }
        try
        {
            return await _redis.GetDatabase().StringSetAsync(TagLockKey(groupName, tagName), owner, TagLockTtl, When.NotExists) ? owner : null;
        }
        catch (RedisException e)
        {
            Log.LockUnavailable(Logger, e, groupName, tagName);
            return owner;
        }
    }

    private async Task WaitForLockAsync(string groupName, string tagName, CancellationToken ct)
    {
        var deadline = _time.GetUtcNow() + TagLockTtl;
        try
        {
            while (_time.GetUtcNow() < deadline && await _redis!.GetDatabase().KeyExistsAsync(TagLockKey(groupName, tagName)))
            {
                await Task.Delay(TagLockPoll, _time, ct);
            }
        }
        catch (RedisException e)
        {
            Log.LockUnavailable(Logger, e, groupName, tagName);
        }
    }

    private async Task ReleaseLockAsync(string groupName, string tagName, string owner)
    {
        if (_redis is null)
        {
            return;
        }
        try
        {
            // Only our own lock: if it outlived its TTL another instance may hold it now.
            await _redis.GetDatabase().ScriptEvaluateAsync(ReleaseIfOwner, [TagLockKey(groupName, tagName)], [owner]);
        }
        catch (RedisException e)
        {
            // It expires by itself within its TTL.
            Log.LockUnavailable(Logger, e, groupName, tagName);
        }
    }

    private ILogger Logger => (ILogger?)_logger ?? NullLogger.Instance;

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "WeCom answered that tag {Group}/{Tag} already exists; using its id from a fresh tag list")]
        public static partial void TagAlreadyExists(ILogger logger, string group, string tag);

        [LoggerMessage(2, LogLevel.Warning, "Redis tag-creation lock for {Group}/{Tag} unavailable; creating without it (a race with another instance ends in 40071, read back)")]
        public static partial void LockUnavailable(ILogger logger, Exception exception, string group, string tag);
    }
}
