namespace Bot.Core.WeCom.Api;

/// <summary>
/// One access token. <see cref="Generation"/> numbers the tokens stored for this app, so a caller that saw the token
/// fail invalidates that generation only, never a newer one another caller or instance has stored since.
/// </summary>
internal sealed record AccessToken(string Value, long Generation, DateTimeOffset RefreshAt, DateTimeOffset ExpiresAt)
{
    /// <summary>Past this, refresh; until <see cref="ExpiresAt"/> the token still serves callers while one refresher works.</summary>
    public bool IsFresh(DateTimeOffset now) => now < RefreshAt;

    public bool IsUsable(DateTimeOffset now) => now < ExpiresAt;

    // The value is a credential: keep it out of anything that formats this record.
    public override string ToString() => $"access token generation {Generation}, refresh at {RefreshAt:O}";
}

/// <summary>Where tokens come from: gettoken directly (single instance) or a store shared by every instance (Redis).</summary>
internal interface IAccessTokenStore
{
    /// <summary>
    /// A token fresher than <paramref name="stale"/>: one another instance already stored, or one fetched now. While
    /// another instance holds the refresh, returns <paramref name="stale"/> if it is still usable.
    /// </summary>
    Task<AccessToken> RefreshAsync(AccessToken? stale, CancellationToken cancellationToken);

    /// <summary>Forgets <paramref name="failed"/> if, and only if, it is still the stored generation.</summary>
    ValueTask InvalidateAsync(AccessToken failed, CancellationToken cancellationToken);
}

/// <summary>Single-instance mode: every refresh is a gettoken call, generations are counted in process.</summary>
internal sealed class InMemoryAccessTokenStore(AccessTokenFetcher fetcher) : IAccessTokenStore
{
    private long _generation;

    public async Task<AccessToken> RefreshAsync(AccessToken? stale, CancellationToken cancellationToken)
    {
        var fetched = await fetcher.FetchAsync(cancellationToken).ConfigureAwait(false);
        return fetched with { Generation = Interlocked.Increment(ref _generation) };
    }

    // The cache already dropped its copy; nothing else holds the token.
    public ValueTask InvalidateAsync(AccessToken failed, CancellationToken cancellationToken) => ValueTask.CompletedTask;
}
