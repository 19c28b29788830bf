using System.Globalization;

namespace Bot.Core.Campaigns.Lottery;

/// <summary>CLI verbs over stored lotteries.</summary>
public sealed class LotteryCommands(LotteryService service)
{
    /// <summary>
    /// `lottery verify NAME`: recomputes the stored draw from its revealed seed, entry list and prizes, and checks the
    /// commitment and the entry-list hash. It prints each value beside the one it is checked against, and each
    /// recomputed winner beside the published one, so a person can compare them with what was announced.
    /// Exit code 0 when it checks out, 1 with the reason otherwise.
    /// </summary>
    public async Task<int> VerifyAsync(string name, TextWriter output, CancellationToken cancellationToken)
    {
        var audit = await service.GetAuditAsync(name, cancellationToken);
        if (audit is null)
        {
            await output.WriteLineAsync($"lottery '{name}': no such lottery is stored");
            return 1;
        }
        if (audit is not { Seed: { } seed, Commitment: { } commitment, Entries: { } entries, Winners: { } winners })
        {
            await output.WriteLineAsync($"lottery '{name}': not drawn yet (state {audit.State}); commitment {audit.Commitment ?? "not made yet"}");
            return 1;
        }
        var verification = LotteryVerifier.Verify(seed, commitment, entries, audit.Prizes, winners, audit.EntryListHash ?? "");
        var recomputed = verification.Recomputed ?? [];
        var names = await service.NamesAsync([.. recomputed.Concat(winners).Select(w => w.ExternalUserId).Distinct(StringComparer.Ordinal)], cancellationToken);

        // Times in the offset the rule file wrote the draw time in, which is how the announcement states them.
        string Local(DateTimeOffset? at) => at is { } t ? t.ToOffset(audit.Draws.Offset).ToString("yyyy-MM-dd HH:mm:ss zzz", CultureInfo.InvariantCulture) : "-";
        string Who(string id) => names.TryGetValue(id, out var shown) && !string.IsNullOrWhiteSpace(shown) ? $"{shown} ({id})" : id;
        static string Same(bool same) => same ? "same" : "DIFFERENT";

        await output.WriteLineAsync(verification.IsValid
            ? $"lottery '{name}' checks out: {verification.Reason}"
            : $"lottery '{name}' does NOT check out: {verification.Reason}");
        await output.WriteLineAsync($"commitment    {commitment}  made public {Local(audit.CommittedAt)}");
        await output.WriteLineAsync($"seed          {seed}  revealed at the draw, {Local(audit.DrawnAt)} ({(audit.Late == true ? $"late, due {Local(audit.Draws)}" : "on time")})");
        await output.WriteLineAsync(verification.SeedHash is { } seedHash
            ? $"seed SHA-256  {seedHash}  {(string.Equals(seedHash, commitment, StringComparison.OrdinalIgnoreCase) ? "same as the commitment" : "DIFFERENT from the commitment")}"
            : $"seed SHA-256  -  the seed is not {LotteryDraw.SeedLength} bytes of hex, so nothing can be recomputed");
        var listSame = string.Equals(verification.EntryListHash, audit.EntryListHash, StringComparison.OrdinalIgnoreCase);
        await output.WriteLineAsync($"entry list    {entries.Count} entries, SHA-256 {verification.EntryListHash}  " +
            (listSame ? "same as the hash published at the draw" : $"DIFFERENT from the hash published at the draw, {audit.EntryListHash ?? "none"}"));
        for (var i = 0; i < Math.Max(recomputed.Count, winners.Count); i++)
        {
            var (expected, published) = (recomputed.ElementAtOrDefault(i), winners.ElementAtOrDefault(i));
            var prize = (expected ?? published)!.Prize;
            var publishedText = published is null ? "none"
                : published.Prize == prize ? Who(published.ExternalUserId)
                : $"{Who(published.ExternalUserId)} ({published.Prize})";
            await output.WriteLineAsync($"winner {i + 1}  {prize}  recomputed {(expected is null ? "none" : Who(expected.ExternalUserId))}  published {publishedText}  {Same(expected == published)}");
        }
        if (recomputed.Count == 0 && winners.Count == 0)
        {
            await output.WriteLineAsync("winners       none: nobody entered");
        }
        return verification.IsValid ? 0 : 1;
    }
}
