using System.Globalization;
using Serverless.Jobs.Models;

namespace Serverless.Jobs.Http;

/// <summary>
/// The one mapping from a failure to load the model to an HTTP answer, for <c>/api/completions</c>, <c>/api/tokenize</c>
/// and the playground (which calls both).
/// <list type="bullet">
/// <item>Permanent (no model uploaded, an incomplete or damaged upload, a model the engine cannot read, access denied):
/// <b>503</b> with <c>type</c> <see cref="NotReadyType"/>, title "Model not available" and the model store's own message as
/// the detail (what is missing and the command that fixes it), and no <c>Retry-After</c>: the server is misconfigured, so
/// retrying alone will not help, but it is the server's state (503: it cannot serve now), not the request's fault (4xx)
/// nor a bug (500). It stays until an operator uploads or fixes the model; the next request then loads it.</item>
/// <item>Transient (storage unreachable or slow): 503 "try again shortly" with <c>Retry-After</c>, as before.</item>
/// </list>
/// </summary>
internal static class ModelProblems
{
    /// <summary>The problem type of a model that cannot be loaded until someone acts (documented in src/Jobs/README.md).</summary>
    public const string NotReadyType = "urn:serverless:problem:model-not-ready";

    /// <summary>The answer for <paramref name="e"/>, an exception from acquiring the model or its tokenizer.</summary>
    public static JobsHttpResult For(Exception e, int retryAfterSeconds) =>
        ModelReadiness.IsPermanent(e)
            ? NotReady(e.Message)
            : JobsHttpResult.Problem(503, "Service unavailable", "The model is unavailable; try again shortly.")
                .WithHeader("Retry-After", Math.Max(retryAfterSeconds, 5).ToString(CultureInfo.InvariantCulture));

    public static JobsHttpResult NotReady(string reason) =>
        new(503, new ProblemBody(NotReadyType, "Model not available", 503, reason, null), "application/problem+json");
}
