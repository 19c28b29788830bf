using System.Buffers;
using System.Numerics;

namespace Bot.Core.Rules;

/// <summary>
/// Aho–Corasick over UTF-16 chars (ASCII case-insensitive): every keyword of every rule, built once per load,
/// so one pass over a message finds all rules whose keywords occur in it. Immutable after construction.
/// </summary>
internal sealed class KeywordAutomaton
{
    private const int NoClass = -1;

    // Characters that occur in some keyword get a dense class; any other char sends the scan back to the root
    // without a lookup. A 64 K table costs 256 KB per loaded rule set and makes the common miss one array read.
    private readonly int[] _classOf;
    private readonly int[] _rootNext;       // root transitions, dense by class (0 = stay at root)
    private readonly int[] _edgeStart;      // per node: start into _edgeClass/_edgeTarget (sorted by class)
    private readonly int[] _edgeClass;
    private readonly int[] _edgeTarget;
    private readonly int[] _fail;
    private readonly int[] _outStart;       // per node: start into _outTargets, merged with all suffix outputs
    private readonly int[] _outTargets;

    /// <param name="keywords">Pairs of (keyword, target index); a target is any small integer, e.g. a rule's slot.</param>
    public KeywordAutomaton(IEnumerable<(string Keyword, int Target)> keywords, int targetCount)
    {
        TargetCount = targetCount;
        _classOf = new int[char.MaxValue + 1];
        Array.Fill(_classOf, NoClass);
        var classes = 0;

        // Build a plain trie with dictionary children first; flatten afterwards.
        var children = new List<Dictionary<int, int>> { new() };
        var outputs = new List<List<int>?> { null };
        foreach (var (keyword, target) in keywords)
        {
            if (keyword.Length == 0)
            {
                throw new ArgumentException("keywords must not be empty", nameof(keywords));
            }
            var node = 0;
            foreach (var raw in keyword)
            {
                var c = Fold(raw);
                if (_classOf[c] == NoClass)
                {
                    _classOf[c] = classes++;
                    if (c is >= 'a' and <= 'z')
                    {
                        _classOf[c - 32] = _classOf[c];
                    }
                }
                var cls = _classOf[c];
                if (!children[node].TryGetValue(cls, out var next))
                {
                    next = children.Count;
                    children.Add(new Dictionary<int, int>());
                    outputs.Add(null);
                    children[node][cls] = next;
                }
                node = next;
            }
            (outputs[node] ??= []).Add(target);
        }

        var count = children.Count;
        _rootNext = new int[classes];
        foreach (var (cls, next) in children[0])
        {
            _rootNext[cls] = next;
        }
        _edgeStart = new int[count + 1];
        var edgeClass = new List<int>();
        var edgeTarget = new List<int>();
        for (var n = 0; n < count; n++)
        {
            _edgeStart[n] = edgeClass.Count;
            foreach (var (cls, next) in children[n].OrderBy(e => e.Key))
            {
                edgeClass.Add(cls);
                edgeTarget.Add(next);
            }
        }
        _edgeStart[count] = edgeClass.Count;
        _edgeClass = [.. edgeClass];
        _edgeTarget = [.. edgeTarget];

        // Failure links breadth-first; each node's outputs absorb its failure node's (already complete) outputs.
        _fail = new int[count];
        var merged = new List<int>[count];
        merged[0] = [];
        var queue = new Queue<int>();
        foreach (var next in children[0].Values)
        {
            _fail[next] = 0;
            merged[next] = [.. outputs[next] ?? []];
            queue.Enqueue(next);
        }
        while (queue.Count > 0)
        {
            var node = queue.Dequeue();
            foreach (var (cls, next) in children[node])
            {
                var f = _fail[node];
                int target;
                while ((target = Step(f, cls)) < 0)
                {
                    f = _fail[f];
                }
                _fail[next] = target;
                var own = outputs[next] ?? [];
                merged[next] = [.. own, .. merged[target].Where(t => !own.Contains(t))];
                queue.Enqueue(next);
            }
        }
        _outStart = new int[count + 1];
        var outTargets = new List<int>();
        for (var n = 0; n < count; n++)
        {
            _outStart[n] = outTargets.Count;
            outTargets.AddRange(merged[n]);
        }
        _outStart[count] = outTargets.Count;
        _outTargets = [.. outTargets];
        NodeCount = count;
    }

    public int TargetCount { get; }

    public int NodeCount { get; }

    /// <summary>Every target with a keyword in <paramref name="text"/>, each once, in ascending target order.</summary>
    public int[] Match(ReadOnlySpan<char> text)
    {
        if (TargetCount == 0)
        {
            return [];
        }
        var words = (TargetCount + 63) >> 6;
        var seen = ArrayPool<ulong>.Shared.Rent(words);
        try
        {
            var span = seen.AsSpan(0, words);
            span.Clear();
            var found = 0;
            var state = 0;
            foreach (var c in text)
            {
                var cls = _classOf[c];
                if (cls == NoClass)
                {
                    state = 0;
                    continue;
                }
                int next;
                while ((next = Step(state, cls)) < 0)
                {
                    state = _fail[state];
                }
                state = next;
                for (var i = _outStart[state]; i < _outStart[state + 1]; i++)
                {
                    var t = _outTargets[i];
                    ref var word = ref span[t >> 6];
                    var bit = 1UL << (t & 63);
                    if ((word & bit) == 0)
                    {
                        word |= bit;
                        found++;
                    }
                }
            }
            if (found == 0)
            {
                return [];
            }
            var result = new int[found];
            var k = 0;
            for (var w = 0; w < words; w++)
            {
                var bits = span[w];
                while (bits != 0)
                {
                    result[k++] = (w << 6) + BitOperations.TrailingZeroCount(bits);
                    bits &= bits - 1;
                }
            }
            return result;
        }
        finally
        {
            ArrayPool<ulong>.Shared.Return(seen);
        }
    }

    // The goto function: -1 means "follow the failure link"; the root never fails.
    private int Step(int node, int cls)
    {
        if (node == 0)
        {
            return _rootNext.Length == 0 ? 0 : _rootNext[cls];
        }
        int lo = _edgeStart[node], hi = _edgeStart[node + 1] - 1;
        while (lo <= hi)
        {
            var mid = (lo + hi) >> 1;
            var v = _edgeClass[mid];
            if (v == cls)
            {
                return _edgeTarget[mid];
            }
            if (v < cls)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }
        return -1;
    }

    private static char Fold(char c) => c is >= 'A' and <= 'Z' ? (char)(c + 32) : c;
}
