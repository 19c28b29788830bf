namespace Bot.Core.Lottery;

/// <summary>CLI verbs over stored lotteries.</summary>
public sealed class LotteryCommands(LotteryService service)
{
    /// <summary>
    /// `lottery verify NAME`: recomputes the stored draw from its revealed seed, entry list and prizes, and checks the
    /// commitment and the entry-list hash. Exit code 0 when it checks out, 1 with the reason otherwise.
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
        await output.WriteLineAsync(verification.IsValid
            ? $"lottery '{name}' checks out: {verification.Reason}"
            : $"lottery '{name}' does NOT check out: {verification.Reason}");
        return verification.IsValid ? 0 : 1;
    }
}
