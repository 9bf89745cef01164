using Serverless.Inference.Generation;
using Serverless.Inference.Generation.Processing;

namespace Serverless.Inference.Tests.Generation.Processing;

public class StopStringMatcherTests
{
    [Theory]
    [InlineData(new[] { "END", "##" }, "abc##defEND", 3)]
    [InlineData(new[] { "END", "##" }, "abcENDdef##", 3)]
    [InlineData(new[] { "abc", "bcd" }, "xabcd", 1)]         // overlapping occurrences: the earlier start wins
    [InlineData(new[] { "bcd", "abcde" }, "abcdef", 0)]      // a longer stop starting earlier wins regardless of list order
    [InlineData(new[] { "b", "ab" }, "xab", 1)]               // same start: same cut
    [InlineData(new[] { "\n\n" }, "line one\n\nline two", 8)]
    [InlineData(new[] { "stop" }, "stop", 0)]
    [InlineData(new[] { "aa" }, "baaa", 1)]
    public void TryFindReturnsTheEarliestOccurrence(string[] stops, string text, int cut)
    {
        var matcher = new StopStringMatcher(stops);
        Assert.True(matcher.TryFind(text, out var cutIndex));
        Assert.Equal(cut, cutIndex);
    }

    [Theory]
    [InlineData(new[] { "END" }, "the end")]   // ordinal: case matters
    [InlineData(new[] { "END" }, "EN")]
    [InlineData(new string[0], "anything END")]
    [InlineData(new[] { "END" }, "")]
    public void TryFindReportsNoMatchWithTheWholeText(string[] stops, string text)
    {
        var matcher = new StopStringMatcher(stops);
        Assert.False(matcher.TryFind(text, out var cutIndex));
        Assert.Equal(text.Length, cutIndex);
    }

    [Theory]
    [InlineData(new[] { "###" }, "foo", 0)]
    [InlineData(new[] { "###" }, "foo#", 1)]
    [InlineData(new[] { "###" }, "foo##", 2)]
    [InlineData(new[] { "###" }, "#", 1)]
    [InlineData(new[] { "###" }, "", 0)]
    [InlineData(new[] { "###" }, "#a", 0)]
    [InlineData(new[] { "aab" }, "xaa", 2)]                  // self-overlapping prefix
    [InlineData(new[] { "aab" }, "xaaa", 2)]
    [InlineData(new[] { "world" }, "hello wor", 3)]
    [InlineData(new[] { "hello", "lo!" }, "hel", 3)]         // the longest over all stops
    [InlineData(new[] { "hello", "lo!" }, "I say hello", 2)] // a complete "hello" is TryFind's business; "lo" may start "lo!"
    [InlineData(new[] { "hello", "lo!" }, "I say hello l", 1)]
    [InlineData(new[] { "abcd", "cdx" }, "zabc", 3)]
    [InlineData(new[] { "abcd", "cdx" }, "zabcd", 2)]        // "cd" may still start "cdx"
    [InlineData(new[] { "X" }, "aaaa", 0)]                    // one-character stops are never held back
    public void HoldBackIsTheLongestTailThatCouldStillBecomeAStop(string[] stops, string text, int hold)
    {
        Assert.Equal(hold, new StopStringMatcher(stops).HoldBack(text));
    }

    [Fact]
    public void Streaming_with_hold_back_never_emits_text_after_the_cut()
    {
        string[] stops = ["<end>", "\n\nQ:", "ee"];
        var text = "Trees grow <en tall.\n\nA: yes\n\nQ: and <end> more";
        var matcher = new StopStringMatcher(stops);
        Assert.True(matcher.TryFind(text, out var finalCut));
        Assert.Equal("Tr", text[..finalCut]);

        // Replay with "ee" removed so that a later stop decides, one character (a "token") at a time.
        matcher = new StopStringMatcher(["<end>", "\n\nQ:"]);
        var emitted = "";
        var expected = text[..text.IndexOf("\n\nQ:", StringComparison.Ordinal)];
        for (var length = 1; length <= text.Length; length++)
        {
            var soFar = text[..length];
            if (matcher.TryFind(soFar, out var cut))
            {
                emitted += soFar[emitted.Length..cut];
                break;
            }
            var safe = soFar.Length - matcher.HoldBack(soFar);
            Assert.True(safe >= emitted.Length, "the safe prefix never shrinks");
            emitted += soFar[emitted.Length..safe];
            Assert.StartsWith(emitted, expected);
        }
        Assert.Equal(expected, emitted);
    }

    [Fact]
    public void Constructor_rejects_empty_stops()
    {
        Assert.Throws<ArgumentException>(() => new StopStringMatcher(["ok", ""]));
        Assert.Throws<ArgumentException>(() => new StopStringMatcher(["ok", null!]));
    }

    [Fact]
    public void The_matcher_keeps_its_own_copy_of_the_stops()
    {
        var stops = new List<string> { "END" };
        var matcher = new StopStringMatcher(stops);
        stops[0] = "xyz";
        Assert.True(matcher.TryFind("the END", out _));
    }
}
