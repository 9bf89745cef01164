using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Azure;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Logging;
using Serverless.Inference.Generation;
using Serverless.Jobs.Http;
using Serverless.Jobs.Models;
using Serverless.Jobs.Specs;
using Serverless.Jobs.Storage;
using Serverless.Jobs.Telemetry;

namespace Serverless.Jobs;

/// <summary>
/// The HTTP semantics of the job API, independent of the host: <c>POST /api/jobs</c> validates and enqueues a job
/// (202 + <c>Location</c>), <c>GET /api/jobs/{id}</c> reports it. Errors are RFC 9457 <c>application/problem+json</c>
/// whose <c>errors</c> map names every bad field. Nothing is enqueued for a rejected job.
/// </summary>
public sealed class JobsApi
{
    private readonly JobStore _store;
    private readonly JobOutputStore _outputs;
    private readonly JobInputStore _inputs;
    private readonly JobQueue _queue;
    private readonly PromptLengthChecker _model;
    private readonly PromptJobsOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<JobsApi> _logger;

    internal JobsApi(JobStore store, JobOutputStore outputs, JobInputStore inputs, JobQueue queue, PromptLengthChecker model, PromptJobsOptions options, TimeProvider time,
        ILogger<JobsApi> logger)
    {
        _store = store;
        _outputs = outputs;
        _inputs = inputs;
        _queue = queue;
        _model = model;
        _options = options;
        _time = time;
        _logger = logger;
    }

    /// <summary><c>POST /api/jobs</c> with <c>{"prompt": "...", "parameters": {...}}</c> or <c>{"prompts": [...], ...}</c>.</summary>
    /// <returns>202 with <c>Location</c> and <c>Retry-After</c>; 400 for invalid input; 413 for a body over
    /// <see cref="PromptJobsOptions.MaxRequestBodyBytes"/>; 503 when storage is unavailable.</returns>
    public async Task<IActionResult> SubmitAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        return await WithinBudgetAsync(request, ct => SubmitWithinBudgetAsync(request, ct), "submit", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Runs an HTTP operation under <see cref="PromptJobsOptions.HttpTimeBudget"/>: when the budget runs out (storage
    /// slow or unreachable: each try is short, but they add up) the answer is 503 + Retry-After, well before Azure's
    /// front end would cut the request at 230 s. The caller's own cancellation (client gone) still propagates; nothing else
    /// does: the Functions host answers an exception thrown out of a function with a 500 and an empty body. Storage
    /// failures (including a cancellation that is not the caller's: the clients' per-try timeouts) are 503 + Retry-After,
    /// anything else a 500 problem with a correlation id that the Error log carries too.
    /// </summary>
    private async Task<IActionResult> WithinBudgetAsync(HttpRequest request, Func<CancellationToken, Task<IActionResult>> operation, string what,
        CancellationToken cancellationToken)
    {
        using var budget = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        budget.CancelAfter(_options.HttpTimeBudget);
        try
        {
            return await operation(budget.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (budget.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            _logger.LogError("The {Operation} request ran out of its {BudgetSeconds} s time budget (storage too slow or unreachable)", what, _options.HttpTimeBudget.TotalSeconds);
            return Unavailable("Storage did not answer in time");
        }
        catch (Exception e) when (StorageFailure.Is(e, budget.Token))
        {
            // Normally mapped where the call is made; this covers the storage calls that have no catch of their own.
            _logger.LogError(e, "The {Operation} request failed on storage: {Failure}", what, StorageFailure.Describe(e));
            return Unavailable("The job store is unavailable");
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            var correlationId = CorrelationId(request);
            _logger.LogError(e, "The {Operation} request failed unexpectedly (correlation id {CorrelationId})", what, correlationId);
            return JobsHttpResult.Problem(500, "Internal error",
                $"The request failed unexpectedly; quote correlation id {correlationId} when reporting it.", correlationId: correlationId);
        }
    }

    /// <summary>The request's trace id when tracing is on (what Application Insights shows as the operation id), else the
    /// host's request id.</summary>
    private static string CorrelationId(HttpRequest request) =>
        Activity.Current is { } activity ? activity.TraceId.ToHexString() : request.HttpContext.TraceIdentifier;

    /// <summary>The submit: read and check the job → create its record → queue its message → 202.</summary>
    private async Task<IActionResult> SubmitWithinBudgetAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        var (job, refusal) = await ReadSubmissionAsync(request, cancellationToken).ConfigureAwait(false);
        if (job is null) return refusal!;

        using var activity = JobsTelemetry.Source.StartActivity("jobs.submit", ActivityKind.Producer);
        activity?.SetTag("job.id", job.Id).SetTag("job.prompt_count", job.Spec.Prompts.Count);
        using var scope = _logger.BeginScope(new Dictionary<string, object> { ["JobId"] = job.Id });
        var record = JobRecord.Created(job.Id, _time.GetUtcNow(), JobRecord.FromHttp, job.Spec.Prompts.Count, job.RequestHash, job.CallbackUrl);
        if (await CreateRecordAsync(request, record, job, cancellationToken).ConfigureAwait(false) is { } answered) return answered;
        if (await EnqueueAsync(job, activity, cancellationToken).ConfigureAwait(false) is { } unavailable) return unavailable;

        _logger.LogInformation("Accepted job {JobId} with {PromptCount} prompt(s)", job.Id, job.Spec.Prompts.Count);
        return Accepted(request, record, StatusCodes.Status202Accepted);
    }

    /// <summary>A job as submitted and checked: its spec, callback, and id (derived from the Idempotency-Key, if any).</summary>
    private sealed record Submission(string Id, JobSpec Spec, string? CallbackUrl, string? IdempotencyKey, string? RequestHash);

    /// <summary>Reads the body and checks it (fields, and the prompts against the model when it is known); the 400 or
    /// 413 answer otherwise.</summary>
    private async Task<(Submission? Job, IActionResult? Refusal)> ReadSubmissionAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        var idempotencyKey = IdempotencyKey.Read(request);
        if (idempotencyKey.Error is { } keyError)
            return (null, Invalid(new Dictionary<string, string[]> { [IdempotencyKey.HeaderName] = [keyError] }));
        var (body, refusal) = await JsonRequestBody.ReadAsync(request, _options.MaxRequestBodyBytes, "Split the prompts into several jobs.",
            errors => Invalid(errors), cancellationToken).ConfigureAwait(false);
        if (body is null) return (null, refusal!);

        JobSpec? spec;
        var errors = new SpecErrors();
        string? callbackUrl = null;
        using (body)
        {
            spec = JobSpecReader.Read(body.Document.RootElement, allowId: false, _options.MaxPromptsPerJob, _options.MaxNewTokensCeiling, errors, property =>
            {
                if (property.Name != "callback_url") return false;
                if (property.Value.ValueKind != JsonValueKind.String) errors.Add("callback_url", "Must be a string: an absolute https URL.");
                else if (Callbacks.CallbackUrl.Check(property.Value.GetString()!, _options.Callbacks) is { } error) errors.Add("callback_url", error);
                else callbackUrl = property.Value.GetString();
                return true;
            }, extraFieldNames: ["callback_url"]);
        }
        if (spec is null) return (null, Invalid(errors.ToDictionary()));

        // The spec is read over the Hugging Face defaults; when the model is known, check what the worker will run: the
        // parameters over the model's generation_config.json defaults, and each prompt against its context window.
        if (await _model.TryGetAsync(cancellationToken).ConfigureAwait(false) is { } model)
        {
            var options = spec.OptionsOver(model.Defaults);
            GenerationParametersReader.Validate(options, _options.MaxNewTokensCeiling, errors);
            if (options.Truncation == Truncation.None) CheckLengths(spec, model, errors);
            if (errors.Any) return (null, Invalid(errors.ToDictionary()));
        }

        // With an Idempotency-Key the id is derived from the key, so every retry of the POST names the same record and only
        // the first create (If-None-Match: *) wins; the others return that job (or 409 if their body differs).
        var key = idempotencyKey.Key;
        var requestHash = key is null ? null : Convert.ToHexStringLower(SHA256.HashData(body.Bytes));
        return (new Submission(key is null ? JobId.New() : IdempotencyKey.JobId(key), spec, callbackUrl, key, requestHash), null);
    }

    /// <summary>Creates the job's record (If-None-Match: *, with its time-index entry).</summary>
    /// <returns>Null when created; otherwise the answer: the existing job of a retried idempotent submit (200), 409 for
    /// a key reused with another body, 503 when storage failed.</returns>
    private async Task<IActionResult?> CreateRecordAsync(HttpRequest request, JobRecord record, Submission job, CancellationToken cancellationToken)
    {
        var id = record.Id;
        try
        {
            if (await _store.CreateAsync(record, cancellationToken).ConfigureAwait(false)) return null;
            var existing = (await _store.GetAsync(id, cancellationToken).ConfigureAwait(false))?.Record;
            if (existing is null || job.IdempotencyKey is null)
            {
                // Storage said the record exists, yet it is not this request's and cannot be read (deleted in between):
                // a race in storage, never a 500; the client may retry (with its Idempotency-Key, safely).
                _logger.LogWarning("Job {JobId}: the record exists but is not readable as another request's; answering 503", id);
                return Unavailable("The job store did not confirm the new job");
            }
            if (!string.Equals(existing.RequestHash, job.RequestHash, StringComparison.Ordinal))
            {
                return JobsHttpResult.Problem(409, "Idempotency key reused",
                    $"The Idempotency-Key was already used for job '{id}' with a different request body. Use a new key for a new job.",
                    new Dictionary<string, string[]> { [IdempotencyKey.HeaderName] = ["Already used with a different body."] }, jobStatus: existing.Status);
            }

            _logger.LogInformation("Job {JobId}: a retried submit with the same Idempotency-Key returns the existing job", id);
            return Accepted(request, existing, StatusCodes.Status200OK);
        }
        catch (Exception e) when (StorageFailure.Is(e, cancellationToken))
        {
            _logger.LogError(e, "Could not create the status record of job {JobId}", id);
            return Unavailable("The job store is unavailable");
        }
    }

    /// <summary>Sends the job's message (its spec spilled to <see cref="JobInputStore"/> when too large for one). A job
    /// that cannot be queued is closed (failed), so it does not sit in "queued" forever.</summary>
    /// <returns>Null when queued; the 503 answer when storage failed.</returns>
    private async Task<IActionResult?> EnqueueAsync(Submission job, Activity? activity, CancellationToken cancellationToken)
    {
        var id = job.Id;
        try
        {
            // The trace context rides in the message (not the blob) so the worker continues this trace either way.
            var traceParent = Activity.Current?.Id is { } current && Activity.Current.IdFormat == ActivityIdFormat.W3C ? current : null;
            var message = job.Spec.ToMessage(id, traceParent);
            if (Encoding.UTF8.GetByteCount(message) > _options.MaxInlineMessageBytes)
            {
                // A queue message holds at most 64 KiB; keep the spec in a blob and send only its id.
                await _inputs.WriteAsync(id, message, cancellationToken).ConfigureAwait(false);
                message = traceParent is null
                    ? JsonSerializer.Serialize(new { id, input = "blob" })
                    : JsonSerializer.Serialize(new { id, input = "blob", traceparent = traceParent });
            }
            await _queue.SendAsync(message, cancellationToken).ConfigureAwait(false);
            return null;
        }
        catch (Exception e) when (StorageFailure.Is(e, cancellationToken) || e is OperationCanceledException)
        {
            _logger.LogError(e, "Could not enqueue job {JobId}; marking it failed", id);
            JobsTelemetry.RecordCompleted(activity, JobStatus.Failed, new JobError(JobErrorCodes.EnqueueFailed, ""));
            try
            {
                // Not the request's token (it may be the one that ran out), but still bounded (the client is waiting):
                // a read and a conditional write, with a retry's worth of slack.
                using var closing = new CancellationTokenSource(3 * _options.HttpStorageCallTimeout);
                var failed = new JobError(JobErrorCodes.EnqueueFailed, "The job could not be queued; submit it again.");
                await _store.UpdateAsync(id, r => r?.Fail(_time.GetUtcNow(), failed), closing.Token).ConfigureAwait(false);
            }
            catch (Exception inner)
            {
                _logger.LogError(inner, "Could not mark job {JobId} failed after the enqueue failure", id);
            }
            if (!StorageFailure.Is(e, cancellationToken)) throw; // the budget's or the caller's cancellation: WithinBudgetAsync answers it
            return Unavailable("The job queue is unavailable");
        }
    }

    /// <summary>The submit's answer: 202 for a new job, 200 for the job a retried idempotent submit already created.</summary>
    private JobsHttpResult Accepted(HttpRequest request, JobRecord record, int status)
    {
        var location = $"{request.PathBase}/api/jobs/{record.Id}";
        var statusUrl = request.Host.HasValue ? $"{request.Scheme}://{request.Host}{location}" : location;
        return new JobsHttpResult(status, new SubmitResponse(record.Id, record.Status, record.CreatedAt, statusUrl, record.PromptCount))
            .WithHeader("Location", location)
            .WithHeader("Retry-After", _options.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary><c>GET /api/jobs/{id}</c>: 200 with the status (and results once succeeded), 404 for an unknown id,
    /// 400 for an id that is not <c>[A-Za-z0-9-]{1,64}</c>.</summary>
    public async Task<IActionResult> GetAsync(HttpRequest request, string id, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        return await WithinBudgetAsync(request, ct => GetWithinBudgetAsync(request, id, ct), "status", cancellationToken).ConfigureAwait(false);
    }

    private async Task<IActionResult> GetWithinBudgetAsync(HttpRequest request, string id, CancellationToken cancellationToken)
    {
        if (!JobId.IsValid(id))
            return Invalid(new Dictionary<string, string[]> { ["id"] = [$"Must be 1 to {JobId.MaxLength} letters, digits or '-'."] }, "The job id is malformed.");

        JobRecord? record;
        JobOutput? output = null;
        try
        {
            record = (await _store.GetAsync(id, cancellationToken).ConfigureAwait(false))?.Record;
            if (record is { Status: JobStatus.Succeeded })
            {
                output = await _outputs.GetAsync(id, cancellationToken).ConfigureAwait(false);
                if (output is null) _logger.LogWarning("Job {JobId} succeeded but its output blob is missing", id);
            }
        }
        catch (Exception e) when (StorageFailure.Is(e, cancellationToken))
        {
            _logger.LogError(e, "Could not read job {JobId}", id);
            return Unavailable("The job store is unavailable");
        }

        if (record is null)
            return JobsHttpResult.Problem(404, "Job not found", $"There is no job '{id}'.");

        var result = new JobsHttpResult(StatusCodes.Status200OK, JobStatusResponse.From(record, output)).WithHeader("Cache-Control", "no-store");
        if (!record.IsTerminal) result.WithHeader("Retry-After", _options.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return result;
    }

    /// <summary><c>DELETE /api/jobs/{id}</c> (or <c>POST /api/jobs/{id}/cancel</c>): marks the job <c>cancelled</c> → 200 with
    /// its status (also when it already was: cancelling is idempotent). A queued job then never starts; a running one stops
    /// within about a second on the instance running it (<see cref="Cancellation.JobCancellationWatcher"/>) and keeps no
    /// output. 409 with <c>job_status</c> for a job that already succeeded or failed; 404 unknown; 400 malformed id.</summary>
    public async Task<IActionResult> CancelAsync(HttpRequest request, string id, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        return await WithinBudgetAsync(request, ct => CancelWithinBudgetAsync(id, ct), "cancel", cancellationToken).ConfigureAwait(false);
    }

    private async Task<IActionResult> CancelWithinBudgetAsync(string id, CancellationToken cancellationToken)
    {
        if (!JobId.IsValid(id))
            return Invalid(new Dictionary<string, string[]> { ["id"] = [$"Must be 1 to {JobId.MaxLength} letters, digits or '-'."] }, "The job id is malformed.");

        JobRecord? stored;
        try
        {
            var reason = new JobError(JobErrorCodes.Cancelled, "Cancelled by request.");
            stored = await _store.UpdateAsync(id, r => r?.Cancel(_time.GetUtcNow(), reason), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (StorageFailure.Is(e, cancellationToken))
        {
            _logger.LogError(e, "Could not cancel job {JobId}", id);
            return Unavailable("The job store is unavailable");
        }

        if (stored is null)
            return JobsHttpResult.Problem(404, "Job not found", $"There is no job '{id}'.");
        if (stored.Status != JobStatus.Cancelled)
        {
            return JobsHttpResult.Problem(409, "Job already finished", $"Job '{id}' already {JsonSerializer.Serialize(stored.Status, JobsJson.Options).Trim('"')}; it cannot be cancelled.",
                jobStatus: stored.Status);
        }

        _logger.LogInformation("Job {JobId} cancelled by request", id);
        return new JobsHttpResult(StatusCodes.Status200OK, JobStatusResponse.From(stored, null)).WithHeader("Cache-Control", "no-store");
    }

    /// <summary><c>GET /api/jobs?status=&amp;limit=&amp;continuation=</c>: a page of jobs, newest first, from the time index
    /// (one List Blobs call per page without a status filter, plus a record read per job not finished). <c>limit</c> 1–<see cref="MaxListLimit"/>
    /// (default <see cref="DefaultListLimit"/>); <c>continuation</c> is the opaque token of the previous page.</summary>
    public async Task<IActionResult> ListAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        return await WithinBudgetAsync(request, ct => ListWithinBudgetAsync(request, ct), "list", cancellationToken).ConfigureAwait(false);
    }

    public const int DefaultListLimit = 50;
    public const int MaxListLimit = 200;
    private const int MaxListCallsPerPage = 5;

    private async Task<IActionResult> ListWithinBudgetAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        var errors = new Dictionary<string, string[]>();
        JobStatus? status = null;
        if (request.Query["status"].ToString() is { Length: > 0 } statusText)
        {
            if (JobTimeIndex.TryParseStatus(statusText, out var parsed)) status = parsed;
            else errors["status"] = ["Must be one of queued, running, succeeded, failed, cancelled."];
        }
        var limit = DefaultListLimit;
        if (request.Query["limit"].ToString() is { Length: > 0 } limitText &&
            (!int.TryParse(limitText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out limit) || limit < 1 || limit > MaxListLimit))
        {
            errors["limit"] = [$"Must be an integer from 1 to {MaxListLimit}."];
        }

        string? marker = null;
        if (request.Query["continuation"].ToString() is { Length: > 0 } continuation)
        {
            marker = ContinuationToken.Decode(continuation);
            if (marker is null) errors["continuation"] = ["Not a continuation token from this API; pass the 'continuation' of the previous page unchanged."];
        }
        if (errors.Count > 0) return JobsHttpResult.Problem(400, "Invalid query", $"The query has {errors.Count} invalid parameter(s); see errors.", errors);

        try
        {
            var (jobs, next) = await _store.ListAsync(status, limit, marker, MaxListCallsPerPage, cancellationToken).ConfigureAwait(false);
            return new JobsHttpResult(StatusCodes.Status200OK, new JobListResponse([.. jobs.Select(JobListItem.From)], next is null ? null : ContinuationToken.Encode(next)))
                .WithHeader("Cache-Control", "no-store");
        }
        catch (RequestFailedException e) when (e.Status == 400)
        {
            // A well-formed token the service rejects (e.g. from another container): the client's fault, not an outage.
            return JobsHttpResult.Problem(400, "Invalid query", "The continuation token is not valid here.",
                new Dictionary<string, string[]> { ["continuation"] = ["Not accepted by the job store; start again without it."] });
        }
        catch (Exception e) when (StorageFailure.Is(e, cancellationToken))
        {
            _logger.LogError(e, "Could not list jobs");
            return Unavailable("The job store is unavailable");
        }
    }

    private static void CheckLengths(JobSpec spec, SubmitModel model, SpecErrors errors)
    {
        for (var i = 0; i < spec.Prompts.Count; i++)
        {
            var count = model.Tokenizer.Encode(spec.Prompts[i]).Length;
            if (count > model.ContextWindow)
            {
                errors.Add(spec.FieldName(i),
                    $"Has {count} tokens but the model's context window is {model.ContextWindow}. Shorten it, or set parameters.truncation to \"keep_start\" or \"keep_end\".");
            }
        }
    }

    private static JobsHttpResult Invalid(IReadOnlyDictionary<string, string[]> errors, string? detail = null) =>
        JobsHttpResult.Problem(400, "Invalid job", detail ?? $"The job has {errors.Count} invalid field(s); see errors.", errors);

    private JobsHttpResult Unavailable(string what) =>
        JobsHttpResult.Problem(503, "Service unavailable", what + "; try again shortly.")
            .WithHeader("Retry-After", Math.Max(_options.RetryAfterSeconds, 5).ToString(System.Globalization.CultureInfo.InvariantCulture));
}
