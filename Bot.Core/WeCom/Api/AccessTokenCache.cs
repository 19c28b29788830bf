namespace Bot.Core.WeCom.Api;

/// <summary>
/// The process's copy of the access token, refreshed single-flight: the first caller that finds it stale refreshes,
/// every other caller keeps using the current token until it really expires, and only callers with no usable token
/// wait for the refresh.
/// </summary>
internal sealed class AccessTokenCache(IAccessTokenStore store, TimeProvider timeProvider)
{
    private readonly Lock _gate = new();
    private AccessToken? _current;
    private Task<AccessToken>? _refresh;

    public ValueTask<AccessToken> GetAsync(CancellationToken cancellationToken)
    {
        var current = Volatile.Read(ref _current);
        return current is not null && current.IsFresh(timeProvider.GetUtcNow())
            ? ValueTask.FromResult(current)
            : new ValueTask<AccessToken>(GetSlowAsync(cancellationToken));
    }

    /// <summary>Drops <paramref name="failed"/> here and in the store, unless a newer generation has replaced it.</summary>
    public async ValueTask InvalidateAsync(AccessToken failed, CancellationToken cancellationToken)
    {
        Interlocked.CompareExchange(ref _current, null, failed);
        await store.InvalidateAsync(failed, cancellationToken).ConfigureAwait(false);
    }

    private async Task<AccessToken> GetSlowAsync(CancellationToken cancellationToken)
    {
        var now = timeProvider.GetUtcNow();
        AccessToken? current;
        Task<AccessToken> refresh;
        TaskCompletionSource<AccessToken>? mine = null;
        lock (_gate)
        {
            current = _current;
            if (current is not null && current.IsFresh(now))
            {
                return current;
            }
            if (_refresh is null)
            {
                mine = new TaskCompletionSource<AccessToken>(TaskCreationOptions.RunContinuationsAsynchronously);
                _refresh = mine.Task;
            }
            refresh = _refresh;
        }
        if (mine is not null)
        {
            // This caller refreshes; the refresh runs to completion even if this caller gives up waiting.
            await RefreshAsync(mine, current).WaitAsync(cancellationToken).ConfigureAwait(false);
            return await mine.Task.ConfigureAwait(false);
        }
        if (current is not null && current.IsUsable(now))
        {
            return current;
        }
        return await refresh.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    // Never throws: the outcome goes to everyone waiting on the completion source.
    private async Task RefreshAsync(TaskCompletionSource<AccessToken> completion, AccessToken? stale)
    {
        try
        {
            var fresh = await store.RefreshAsync(stale, CancellationToken.None).ConfigureAwait(false);
            lock (_gate)
            {
                _current = fresh;
                _refresh = null;
            }
            completion.SetResult(fresh);
        }
        catch (Exception e)
        {
            lock (_gate)
            {
                _refresh = null;
            }
            completion.SetException(e);
        }
    }
}
