using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;

namespace Bot.Core.Inbox;

/// <summary>
/// Who holds an inbox lease, as stored in lease_owner: "instance/pid/process start (unix ms)/worker". The instance name
/// survives restarts (<see cref="InboxOptions.InstanceId"/>); the process id and start time tell a process still
/// running on this machine from an earlier one that died, whose leases nobody will ever release.
/// </summary>
internal sealed record InboxLeaseOwner(string Instance, int ProcessId, long StartedAt, string Worker)
{
    // Two processes reading one process's start time differ by their own clock reads; a reused pid starts far later.
    private const long StartTolerance = 1000;

    public static InboxLeaseOwner ForThisProcess(string instance)
    {
        using var self = Process.GetCurrentProcess();
        return new(instance, self.Id, StartedAtOf(self), Guid.NewGuid().ToString("N"));
    }

    public static InboxLeaseOwner? Parse(string owner)
    {
        var parts = owner.Split('/');
        return parts.Length == 4
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
            && long.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var startedAt)
                ? new InboxLeaseOwner(parts[0], pid, startedAt, parts[3])
                : null;
    }

    /// <summary>
    /// Whether <paramref name="other"/> was a process of this instance that no longer runs: its leases are this
    /// instance's to take back. A process still running under the name (another worker of this process, a second
    /// host on this machine) keeps its leases.
    /// </summary>
    public bool IsEarlierLife(InboxLeaseOwner other) =>
        other.Instance == Instance && other != this && !IsRunning(other.ProcessId, other.StartedAt);

    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"{Instance}/{ProcessId}/{StartedAt}/{Worker}");

    private static bool IsRunning(int processId, long startedAt)
    {
        try
        {
            using var process = Process.GetProcessById(processId);
            return Math.Abs(StartedAtOf(process) - startedAt) <= StartTolerance;
        }
        catch (ArgumentException)
        {
            // No process has that id.
            return false;
        }
        catch (InvalidOperationException)
        {
            // It exited while being looked at.
            return false;
        }
        catch (Exception ex) when (ex is Win32Exception or NotSupportedException)
        {
            // Cannot tell: its leases simply run out.
            return true;
        }
    }

    private static long StartedAtOf(Process process) =>
        new DateTimeOffset(process.StartTime.ToUniversalTime()).ToUnixTimeMilliseconds();
}
