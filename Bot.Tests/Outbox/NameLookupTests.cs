using Bot.Core.WeCom.Api;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace Bot.Tests.Outbox;

public sealed class NameLookupTests
{
    private static IEnumerable<TestCaseData> Failures()
    {
        yield return new TestCaseData(new WeComApiException("externalcontact/get", WeComErrorCodes.InvalidParameter, "no such contact")).SetName("refused");
        yield return new TestCaseData(new WeComOutcomeUnknownException("externalcontact/get")).SetName("no answer");
        yield return new TestCaseData(new OperationCanceledException()).SetName("over its budget");
    }

    [TestCaseSource(nameof(Failures))]
    public async Task A_lookup_WeCom_cannot_answer_falls_back_and_says_so(Exception failure)
    {
        var logs = new FakeLogger<NameLookup>();
        var lookup = new NameLookup(logs);

        var name = await lookup.NameOrAsync<string>(() => throw failure, n => n, "新朋友", CancellationToken.None, TimeSpan.FromSeconds(2));

        Assert.That(name, Is.EqualTo("新朋友"));
        Assert.That(logs.Collector.GetSnapshot().Single().Level, Is.EqualTo(LogLevel.Warning));
    }

    [Test]
    public async Task The_callers_own_cancellation_is_not_swallowed()
    {
        using var stopping = new CancellationTokenSource();
        await stopping.CancelAsync();
        var lookup = new NameLookup(new FakeLogger<NameLookup>());

        Assert.ThrowsAsync<OperationCanceledException>(() =>
            lookup.NameOrAsync<string>(() => throw new OperationCanceledException(stopping.Token), n => n, "", stopping.Token, TimeSpan.FromSeconds(2)));
        Assert.That(await lookup.NameOrAsync(() => Task.FromResult("张三"), n => n, "", CancellationToken.None), Is.EqualTo("张三"));
    }
}
