using System.Globalization;
using System.Text.Unicode;

namespace Bot.Core.Rules;

/// <summary>
/// Reads the files of one rules folder within <see cref="RuleLimits"/>: a file's size is checked before it is read
/// and the read is capped, the bytes must be UTF-8, and a link is followed only while it stays inside the folder
/// (a Kubernetes ConfigMap links <c>welcome.yaml</c> to <c>..data/welcome.yaml</c>), so a link to, say, a secret
/// elsewhere is neither loaded nor quoted back in an error.
/// </summary>
internal sealed class RuleFileReader(string folder, RuleLimits limits, List<RuleError> errors)
{
    private const int MaxLinks = 40; // what Linux allows in resolving one path before ELOOP

    private readonly string _realFolder = RealPath(folder) ?? Path.GetFullPath(folder);
    private long _total;

    /// <summary>The file's text, or null after adding the reason it is refused to the errors.</summary>
    public string? Read(string path)
    {
        try
        {
            var real = RealPath(path);
            if (real is null)
            {
                return Refuse(path, 1, 1, "cannot read the file: too many levels of links");
            }
            if (!real.StartsWith(_realFolder + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            {
                return Refuse(path, 1, 1, "the file links outside the rules folder; rule files are read only from inside it");
            }
            var length = new FileInfo(real).Length;
            if (length > limits.MaxFileBytes)
            {
                return Refuse(path, 1, 1, string.Create(CultureInfo.InvariantCulture,
                    $"the file is {length:N0} bytes; a rule file may have at most {limits.MaxFileBytes:N0} (Rules:MaxFileBytes)"));
            }
            if (_total + length > limits.MaxFolderBytes)
            {
                return Refuse(path, 1, 1, string.Create(CultureInfo.InvariantCulture,
                    $"with this file the rule files come to more than {limits.MaxFolderBytes:N0} bytes (Rules:MaxFolderBytes)"));
            }
            var bytes = new byte[length + 1]; // one byte more than its size: the file grew while being read
            int count = 0, n;
            using (var stream = new FileStream(real, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 1))
            {
                while (count < bytes.Length && (n = stream.Read(bytes, count, bytes.Length - count)) > 0)
                {
                    count += n;
                }
            }
            if (count > length)
            {
                // An editor is writing it; the watcher's next event reloads the finished file.
                return Refuse(path, 1, 1, "cannot read the file: it changed while it was read");
            }
            _total += count;
            return Decode(path, bytes.AsSpan(0, count));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A file being replaced by an editor can vanish between listing and reading; the next watcher event reloads.
            return Refuse(path, 1, 1, $"cannot read the file: {ex.Message}");
        }
    }

    private string? Decode(string path, ReadOnlySpan<byte> bytes)
    {
        if (bytes.StartsWith("\uFEFF"u8))
        {
            bytes = bytes[3..]; // a byte order mark, which File.ReadAllText skipped too
        }
        // Strict: a decoder that replaces bad bytes with U+FFFD would load a Latin-1 "café" as "caf\uFFFD" unnoticed.
        if (Utf8.IsValid(bytes))
        {
            return System.Text.Encoding.UTF8.GetString(bytes);
        }
        var chars = new char[bytes.Length];
        Utf8.ToUtf16(bytes, chars, out var read, out var written, replaceInvalidSequences: false);
        var before = chars.AsSpan(0, written);
        var lineStart = before.LastIndexOf('\n') + 1;
        return Refuse(path, before.Count('\n') + 1, written - lineStart + 1,
            string.Create(CultureInfo.InvariantCulture, $"invalid UTF-8 (byte 0x{bytes[read]:X2}); save the file as UTF-8"));
    }

    private string? Refuse(string path, int line, int column, string message)
    {
        errors.Add(new RuleError(path, line, column, message));
        return null;
    }

    /// <summary>
    /// The path with every link in it resolved, like realpath(3) (which .NET lacks), or null on a loop. Resolving
    /// only the last link is not enough: in a ConfigMap the link that leaves or stays is the "..data" folder.
    /// </summary>
    internal static string? RealPath(string path)
    {
        var full = Path.GetFullPath(path);
        var root = Path.GetPathRoot(full)!;
        var pending = new Stack<string>();
        Push(pending, full[root.Length..]);
        var current = root;
        var links = 0;
        while (pending.TryPop(out var part))
        {
            if (part is "" or ".")
            {
                continue;
            }
            if (part == "..")
            {
                current = Path.GetDirectoryName(current) ?? root;
                continue;
            }
            var next = Path.Join(current, part);
            if (new FileInfo(next).LinkTarget is not { } target)
            {
                current = next;
                continue;
            }
            if (++links > MaxLinks)
            {
                return null;
            }
            // A relative target is read from the link's folder, i.e. current; an absolute one starts over at its root.
            if (Path.IsPathRooted(target))
            {
                current = Path.GetPathRoot(target)!;
                target = target[current.Length..];
            }
            Push(pending, target);
        }
        return current;

        static void Push(Stack<string> pending, string relative)
        {
            var parts = relative.Split([Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar]);
            for (var i = parts.Length - 1; i >= 0; i--)
            {
                pending.Push(parts[i]);
            }
        }
    }
}
