using System.Runtime.CompilerServices;

namespace Serverless.Inference.Tokenization;

/// <summary>
/// An immutable trie over UTF-8 byte strings mapping each key to an id, laid out in flat arrays. The unigram
/// Viterbi walks it one byte at a time from every character start, which visits exactly the vocabulary pieces
/// that are prefixes there (what SentencePiece's Darts trie <c>traverse</c> yields), in increasing length.
/// </summary>
internal sealed class ByteTrie
{
    public const int Root = 0;

    // Children of the root are looked up in a 256-entry table; deeper nodes hold few children, scanned in order.
    private readonly int[] _rootChildren;
    private readonly int[] _firstEdge;
    private readonly ushort[] _edgeCount;
    private readonly int[] _value;
    private readonly byte[] _edgeLabels;
    private readonly int[] _edgeTargets;

    /// <summary>Longest key in bytes.</summary>
    public int MaxKeyLength { get; }

    public int Count { get; }

    public ByteTrie(IReadOnlyList<(byte[] Key, int Value)> entries)
    {
        // Build with per-node sorted lists first, then flatten breadth-first into arrays.
        var children = new List<SortedList<byte, int>> { new() };
        var values = new List<int> { -1 };
        var maxLength = 0;
        foreach ((var key, var value) in entries)
        {
            if (key.Length == 0)
            {
                throw new ArgumentException("Trie keys must not be empty.", nameof(entries));
            }

            var node = Root;
            foreach (var b in key)
            {
                if (!children[node].TryGetValue(b, out var next))
                {
                    next = children.Count;
                    children.Add(new SortedList<byte, int>());
                    values.Add(-1);
                    children[node].Add(b, next);
                }

                node = next;
            }

            if (values[node] >= 0)
            {
                throw new ArgumentException("Duplicate trie key.", nameof(entries));
            }

            values[node] = value;
            maxLength = Math.Max(maxLength, key.Length);
        }

        var nodeCount = children.Count;
        _firstEdge = new int[nodeCount];
        _edgeCount = new ushort[nodeCount];
        _value = values.ToArray();
        _edgeLabels = new byte[nodeCount - 1];
        _edgeTargets = new int[nodeCount - 1];
        var edge = 0;
        for (var node = 0; node < nodeCount; node++)
        {
            _firstEdge[node] = edge;
            _edgeCount[node] = (ushort)children[node].Count;
            foreach (var child in children[node])
            {
                _edgeLabels[edge] = child.Key;
                _edgeTargets[edge] = child.Value;
                edge++;
            }
        }

        _rootChildren = new int[256];
        Array.Fill(_rootChildren, -1);
        foreach (var child in children[Root])
        {
            _rootChildren[child.Key] = child.Value;
        }

        MaxKeyLength = maxLength;
        Count = entries.Count;
    }

    /// <summary>The child of <paramref name="node"/> along <paramref name="label"/>, or -1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Next(int node, byte label)
    {
        if (node == Root)
        {
            return _rootChildren[label];
        }

        var first = _firstEdge[node];
        var end = first + _edgeCount[node];
        var labels = _edgeLabels;
        for (var e = first; e < end; e++)
        {
            var l = labels[e];
            if (l == label)
            {
                return _edgeTargets[e];
            }

            if (l > label)
            {
                break;
            }
        }

        return -1;
    }

    /// <summary>The id stored at <paramref name="node"/>, or -1 when no key ends there.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int ValueAt(int node) => _value[node];

    /// <summary>Length in bytes of the longest key that is a prefix of <paramref name="text"/>, or 0.</summary>
    public int LongestPrefix(ReadOnlySpan<byte> text)
    {
        var node = Root;
        var longest = 0;
        for (var i = 0; i < text.Length; i++)
        {
            node = Next(node, text[i]);
            if (node < 0)
            {
                break;
            }

            if (_value[node] >= 0)
            {
                longest = i + 1;
            }
        }

        return longest;
    }
}
