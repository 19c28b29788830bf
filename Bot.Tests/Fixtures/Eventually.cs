namespace Bot.Tests.Fixtures;

/// <summary>
/// Waits for state that announces nothing (a database row, a page's text) to become what a test expects. It is the
/// one polling loop of the suite: outbound calls are awaited through WireMock's log events instead
/// (<c>FakeWeCom.WaitForAsync</c>). On time-out the test fails with the last value seen.
/// </summary>
public static class Eventually
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(15);

    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(20);

    /// <summary>Probes until <paramref name="done"/> holds and returns that value.</summary>
    public static async Task<T> UntilAsync<T>(
        Func<Task<T>> probe, Func<T, bool> done, Func<T, string> because, TimeSpan? timeout = null, CancellationToken ct = default)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(timeout ?? DefaultTimeout);
        while (true)
        {
            var value = await probe();
            if (done(value))
            {
                return value;
            }
            try
            {
                await Task.Delay(Interval, limit.Token);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                Assert.Fail($"still not so after {(timeout ?? DefaultTimeout).TotalSeconds:0.#} s: {because(value)}");
            }
        }
    }

    /// <summary>Probes until the condition holds.</summary>
    public static Task UntilAsync(Func<Task<bool>> condition, string because, TimeSpan? timeout = null, CancellationToken ct = default) =>
        UntilAsync(condition, ok => ok, _ => because, timeout, ct);
}
