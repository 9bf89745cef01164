using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Mvc;
using Serverless.Inference.Generation;

namespace Serverless.Jobs.Playground;

/// <summary>
/// <c>GET /api/playground</c>: one self-contained HTML page (<c>playground.html</c>, embedded in this assembly: no build
/// step, no external URL) that streams from <c>/api/completions</c>, shows the prompt's tokens from <c>/api/tokenize</c>
/// and runs the same request as a queued job. The Hugging Face parameters (names, types, ranges, defaults, descriptions)
/// and the host's limits are put into the page as JSON when it is served, from <see cref="GenerationParameters.All"/> and
/// the settings, so the page never holds a copy of its own. It contains no data: the model and the key stay behind the API.
/// </summary>
public sealed class PlaygroundApi
{
    /// <summary>The example prompt (the page's placeholder, run when the prompt box is left empty).</summary>
    public const string ExamplePrompt = "Where is Ganymede located in the solar system?";

    private static readonly Lazy<string> Template = new(ReadTemplate);
    private readonly string _config;

    internal PlaygroundApi(PromptJobsOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _config = JsonSerializer.Serialize(PlaygroundConfig.From(options), JobsJson.HtmlSafeOptions);
    }

    /// <summary>The page, with the configuration and a fresh Content-Security-Policy nonce for its one script and style.</summary>
    public IActionResult GetPage()
    {
        var nonce = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
        // The JSON goes inside <script type="application/json">: JobsJson's default encoder escapes '<', '>' and '&', so
        // no string in it can close the element.
        var html = Template.Value.Replace("{{NONCE}}", nonce, StringComparison.Ordinal).Replace("{{CONFIG}}", _config, StringComparison.Ordinal);
        return new HtmlResult(html, nonce);
    }

    private static string ReadTemplate()
    {
        using var stream = typeof(PlaygroundApi).Assembly.GetManifestResourceStream(typeof(PlaygroundApi).Namespace + ".playground.html")
            ?? throw new InvalidOperationException("The embedded resource playground.html is missing from the build.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}

/// <summary>What the page needs to know to build its form: the parameter table and the host's limits.</summary>
internal sealed record PlaygroundConfig(string ExamplePrompt, IReadOnlyList<PlaygroundParameter> Parameters, PlaygroundLimits Limits)
{
    public static PlaygroundConfig From(PromptJobsOptions options) => new(
        PlaygroundApi.ExamplePrompt,
        [.. GenerationParameters.All.Select(p => new PlaygroundParameter(p.Name, p.Type, p.Description, p.Minimum, p.MinimumExclusive,
            p.Maximum, p.AllowedValues, p.Default, p.InGenerationConfig))],
        new PlaygroundLimits(Math.Min(options.Completions.MaxNewTokens, options.MaxNewTokensCeiling), options.MaxNewTokensCeiling,
            options.Completions.MaxRequestBodyBytes));
}

/// <summary>One row of <see cref="GenerationParameters.All"/> as JSON (<c>type</c>: integer, number, boolean, string, string_list).</summary>
internal sealed record PlaygroundParameter(string Name, GenerationParameterType Type, string Description, double? Minimum,
    bool MinimumExclusive, double? Maximum, IReadOnlyList<string> AllowedValues, object? Default, bool InGenerationConfig);

/// <summary>The largest <c>max_new_tokens</c> of a streamed completion and of a job, and the completions' body limit.</summary>
internal sealed record PlaygroundLimits(int CompletionMaxNewTokens, int JobMaxNewTokens, int MaxRequestBodyBytes);
