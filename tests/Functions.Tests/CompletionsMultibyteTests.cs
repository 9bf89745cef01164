using System.Text;
using System.Text.Json;
using Serverless.Functions.Tests.Infrastructure;

namespace Serverless.Functions.Tests;

/// <summary>
/// The demo model's own 1024 pieces are all ASCII, so this host runs its weights with flan-t5-small's tokenizer, whose
/// first 1024 ids hold multibyte pieces (22 ’, 85 à, 154 é, 218 ▁für, 510 ▁über, 730 ▁können, …): the model can then
/// generate them.
/// </summary>
public sealed class MultibyteModelHostFixture : LocalHostFixture
{
    private readonly string _model = Path.Combine(Path.GetTempPath(), "serverless-tests", "multibyte-" + Guid.NewGuid().ToString("N"));

    protected override string ModelDirectory
    {
        get
        {
            if (!Directory.Exists(_model))
            {
                Directory.CreateDirectory(_model);
                foreach (var file in Directory.GetFiles(Paths.DemoModelDirectory))
                    File.Copy(file, Path.Combine(_model, Path.GetFileName(file)));
                File.Copy(Path.Combine(Paths.RepositoryRoot, "tests", "Inference.Tests", "Fixtures", "flan-t5-small", "spiece.model"),
                    Path.Combine(_model, "spiece.model"), overwrite: true);
            }
            return _model;
        }
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        try { Directory.Delete(_model, recursive: true); } catch (IOException) { }
    }
}

public sealed class CompletionsMultibyteTests(MultibyteModelHostFixture host) : IClassFixture<MultibyteModelHostFixture>
{
    [Fact]
    public async Task Multibyte_characters_arrive_whole()
    {
        // Random weights: sample until a completion holds non-ASCII text (the fixed seeds make it reproducible), then
        // stream that one. The prompt uses only pieces the 1024-row model knows.
        object? spec = null;
        var text = "";
        for (var seed = 1; seed <= 100 && spec is null; seed++)
        {
            var candidate = new { prompt = "für über können", parameters = new { max_new_tokens = 48, min_new_tokens = 48, do_sample = true, seed } };
            using var response = await host.Http.PostAsync("api/completions", CompletionsTests.Json(candidate));
            using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            text = document.RootElement.GetProperty("generated_text").GetString()!;
            if (text.Any(c => c > 127)) spec = candidate;
        }
        Assert.True(spec is not null, "no seed gave a completion with non-ASCII text: the test cannot check what it means to");

        var events = await CompletionsTests.StreamAsync(host.Http, spec, acceptEventStream: true);

        var tokens = events.Tokens(0);
        Assert.Equal(text, string.Concat(tokens.Select(t => t.Text)));
        Assert.Contains(tokens, t => t.Text.Any(c => c > 127));
        foreach (var token in tokens)
        {
            // Whole characters: no replacement character, no lone surrogate, and the text round-trips through UTF-8.
            Assert.DoesNotContain('\uFFFD', token.Text);
            Assert.Equal(token.Text, new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(Encoding.UTF8.GetBytes(token.Text)));
            for (var i = 0; i < token.Text.Length; i++)
            {
                Assert.False(char.IsSurrogate(token.Text[i]) && !char.IsSurrogatePair(token.Text, char.IsHighSurrogate(token.Text[i]) ? i : i - 1),
                    $"token {token.Id} has a lone surrogate");
            }
        }
        Assert.True(events.RawIsValidUtf8);
    }

}
