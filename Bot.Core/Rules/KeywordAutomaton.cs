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
    // Non-root transitions in one open-addressing table keyed by (node, class): one probe and one cache line
    // in the common case, where per-node sorted edge lists cost a binary search over cold memory.
    private readonly Edge[] _edges;
    private readonly int _edgeMask;
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
        var edgeCount = children.Skip(1).Sum(c => c.Count);
        var size = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(16, edgeCount * 2));
        _edges = new Edge[size];
        _edgeMask = size - 1;
        for (var n = 1; n < count; n++)
        {
            foreach (var (cls, next) in children[n])
            {
                var slot = Hash(n, cls) & _edgeMask;
                while (_edges[slot].Target != 0)
                {
                    slot = (slot + 1) & _edgeMask;
                }
                _edges[slot] = new Edge(n, cls, next);
            }
        }

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
        var slot = Hash(node, cls) & _edgeMask;
        while (true)
        {
            ref readonly var edge = ref _edges[slot];
            if (edge.Target == 0)
            {
                return -1; // an empty slot: no such edge (no node's child is the root, so Target 0 marks empty)
            }
            if (edge.Node == node && edge.Class == cls)
            {
                return edge.Target;
            }
            slot = (slot + 1) & _edgeMask;
        }
    }

    private static int Hash(int node, int cls) => (int)(((uint)node * 0x9E3779B1u) ^ ((uint)cls * 0x85EBCA77u)) & int.MaxValue;

    private readonly record struct Edge(int Node, int Class, int Target);

    private static char Fold(char c) => c is >= 'A' and <= 'Z' ? (char)(c + 32) : c;
}
