using Bot.Core.WeCom.Api;
using Bot.Tests.EndToEnd;
using Bot.Tests.Fixtures;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.DependencyInjection;
using WireMock.Server;

namespace Bot.Tests.WeCom.Api;

/// <summary>
/// Issue 14 item 8: two members joining in the same second made two add_corp_tag calls for one missing tag, and the
/// second one's "tag name exists" failed the tagging. Tag creation is single-flight per process and, with Redis,
/// across instances; 40071 is read back as success.
/// </summary>
public sealed class TagCreationTests
{
    private const string AddCorpTag = "externalcontact/add_corp_tag";
    private WireMockServer _weCom = null!;
    private FakeCorpTags _tags = null!;

    [SetUp]
    public void Start()
    {
        _weCom = WireMockServer.Start();
        _weCom.GivenToken("tok");
        _tags = FakeCorpTags.Install(_weCom);
    }

    [TearDown]
    public void Stop() => _weCom.Dispose();

    private static WeComDirectory DirectoryOf(WeComApiHarness instance) =>
        ActivatorUtilities.CreateInstance<WeComDirectory>(instance.Host.Services, new MemoryCache(new MemoryCacheOptions()));

    [Test]
    public async Task Concurrent_resolutions_of_one_new_tag_in_one_process_make_one_add_corp_tag()
    {
        using var bot = WeComApiHarness.Create(_weCom);
        var directory = DirectoryOf(bot);

        var ids = await Task.WhenAll(
            directory.ResolveTagIdsAsync(["客户等级/VIP群成员"], CancellationToken.None),
            directory.ResolveTagIdsAsync(["客户等级/VIP群成员", "生命周期/新客"], CancellationToken.None));

        Assert.That(_weCom.Count(AddCorpTag), Is.EqualTo(1), "one creation for both customers");
        Assert.That(ids[1], Is.EqualTo(new[] { ids[0][0], EndToEnd.FakeWeCom.NewCustomerTagId }));
    }

    [Test]
    public async Task Two_instances_sharing_redis_create_a_new_tag_once()
    {
        var settings = new Dictionary<string, string?>
        {
            ["Redis:Configuration"] = RedisTestServer.Shared.Configuration,
            ["Redis:KeyPrefix"] = RedisTestServer.NewPrefix(),
        };
        using var a = WeComApiHarness.Create(_weCom, settings: settings);
        using var b = WeComApiHarness.Create(_weCom, settings: settings);
        var (first, second) = (DirectoryOf(a), DirectoryOf(b));
        // Both have the old list cached, as instances that tagged someone earlier would.
        await Task.WhenAll(first.ResolveTagIdsAsync(["生命周期/新客"], CancellationToken.None), second.ResolveTagIdsAsync(["生命周期/新客"], CancellationToken.None));

        var ids = await Task.WhenAll(
            first.ResolveTagIdsAsync(["客户等级/VIP群成员"], CancellationToken.None),
            second.ResolveTagIdsAsync(["客户等级/VIP群成员"], CancellationToken.None));

        Assert.That(_weCom.Count(AddCorpTag), Is.EqualTo(1), "the instance that lost the lock re-read the list instead");
        Assert.That(ids[1], Is.EqualTo(ids[0]));
    }

    [Test]
    public async Task A_tag_created_elsewhere_after_the_list_was_cached_resolves_to_its_id_on_tag_exists()
    {
        using var bot = WeComApiHarness.Create(_weCom);
        var directory = DirectoryOf(bot);
        await directory.ResolveTagIdsAsync(["生命周期/新客"], CancellationToken.None);
        var id = _tags.CreateElsewhere("生命周期", "复购");

        var ids = await directory.ResolveTagIdsAsync(["生命周期/复购"], CancellationToken.None);

        Assert.That(ids, Is.EqualTo(new[] { id }));
        Assert.That(EndToEnd.FakeWeCom.Json(_weCom.Requests(AddCorpTag).Single()).GetProperty("group_id").GetString(), Is.EqualTo("etGroupLife"),
            "the cached list was stale, so WeCom was asked and answered 40071");
    }
}
