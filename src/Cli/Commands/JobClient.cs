using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Azure;
using Azure.Storage.Queues;

namespace Serverless.Cli.Commands;

/// <summary>
/// Talks to a running host (the Functions app or the local host) over HTTP: submit a job, read its status, wait for it.
/// The wire format is the Jobs library's: snake_case JSON, <c>POST /api/jobs</c> answers 202 with <c>id</c>.
/// </summary>
public sealed class JobClient : IDisposable
{
    private readonly HttpClient _http;

    /// <param name="baseUrl">The host's root, e.g. <c>http://127.0.0.1:7071</c> (the <c>/api</c> prefix is added).</param>
    /// <param name="functionKey">Sent as <c>x-functions-key</c>; Azure needs it, local hosts ignore it.</param>
    public JobClient(Uri baseUrl, string? functionKey = null, HttpMessageHandler? handler = null)
    {
        _http = handler is null ? new HttpClient() : new HttpClient(handler);
        _http.BaseAddress = new Uri(baseUrl.ToString().TrimEnd('/') + "/api/");
        _http.Timeout = TimeSpan.FromSeconds(100);
        if (!string.IsNullOrEmpty(functionKey)) _http.DefaultRequestHeaders.Add("x-functions-key", functionKey);
        _http.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
    }

    /// <summary>Submits a job spec (<c>{"prompt": …}</c> or <c>{"prompts": […]}</c>, optional <c>parameters</c>) and
    /// returns the 202 body (<c>id</c>, <c>status</c>, <c>status_url</c>).</summary>
    public async Task<JsonElement> SubmitAsync(JsonObject spec, CancellationToken cancellationToken)
    {
        using var content = new StringContent(spec.ToJsonString(), Encoding.UTF8, "application/json");
        using var response = await _http.PostAsync("jobs", content, cancellationToken).ConfigureAwait(false);
        return await ReadAsync(response, "submit", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Runs the spec synchronously over <c>POST /api/completions</c> with <c>"stream": true</c>: calls
    /// <paramref name="onToken"/> with each token's text as its server-sent event arrives; returns the final objects.</summary>
    public async Task<IReadOnlyList<JsonElement>> StreamCompletionAsync(JsonObject spec, Action<int, string> onToken, CancellationToken cancellationToken)
    {
        var body = (JsonObject)spec.DeepClone();
        body["stream"] = true;
        using var request = new HttpRequestMessage(HttpMethod.Post, "completions") { Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json") };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode) await ReadAsync(response, "completion", cancellationToken).ConfigureAwait(false);
        var finals = new List<JsonElement>();
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await foreach (var item in System.Net.ServerSentEvents.SseParser.Create(stream).EnumerateAsync(cancellationToken).ConfigureAwait(false))
        {
            if (item.Data == "[DONE]") break;
            using var document = JsonDocument.Parse(item.Data);
            var root = document.RootElement;
            if (root.TryGetProperty("token", out var token))
                onToken(root.GetProperty("index").GetInt32(), token.GetProperty("text").GetString() ?? "");
            else
                finals.Add(root.Clone());
        }
        return finals;
    }

    /// <summary>The job's status record (with <c>results</c> once it has succeeded).</summary>
    public async Task<JsonElement> GetAsync(string id, CancellationToken cancellationToken)
    {
        using var response = await _http.GetAsync("jobs/" + Uri.EscapeDataString(id), cancellationToken).ConfigureAwait(false);
        return await ReadAsync(response, $"status of job '{id}'", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A page of jobs, newest first (<c>GET /api/jobs</c>): <c>{jobs: [...], continuation?}</c>.</summary>
    public async Task<JsonElement> ListAsync(string? status, int? limit, string? continuation, CancellationToken cancellationToken)
    {
        var query = new List<string>();
        if (status is not null) query.Add("status=" + Uri.EscapeDataString(status));
        if (limit is not null) query.Add("limit=" + limit.Value.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (continuation is not null) query.Add("continuation=" + Uri.EscapeDataString(continuation));
        using var response = await _http.GetAsync("jobs" + (query.Count > 0 ? "?" + string.Join('&', query) : ""), cancellationToken).ConfigureAwait(false);
        return await ReadAsync(response, "job list", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Cancels a job (<c>DELETE /api/jobs/{id}</c>) and returns its record; a finished job is a 409 error.</summary>
    public async Task<JsonElement> CancelAsync(string id, CancellationToken cancellationToken)
    {
        using var response = await _http.DeleteAsync("jobs/" + Uri.EscapeDataString(id), cancellationToken).ConfigureAwait(false);
        return await ReadAsync(response, $"cancel of job '{id}'", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Polls until the job is <c>succeeded</c>, <c>failed</c> or <c>cancelled</c>, waiting between polls what the host's
    /// <c>Retry-After</c> asks (else <paramref name="pollInterval"/>). A 404 ends the wait at once with "not found" unless
    /// <paramref name="notFoundGrace"/> allows for it: a message dropped into the queue has no record until a worker
    /// picks it up, so a caller that has just enqueued one passes how long that may take.
    /// </summary>
    /// <param name="hintOnlyWhenBusy">Poll every <paramref name="pollInterval"/> and follow <c>Retry-After</c> only on a
    /// 503 (the benchmark: it measures the instance, not the polling hint of an unfinished job).</param>
    public async Task<JsonElement> WaitAsync(
        string id, TimeSpan timeout, TimeSpan pollInterval, CancellationToken cancellationToken, TimeSpan notFoundGrace = default,
        bool hintOnlyWhenBusy = false, Action<JsonElement>? onPoll = null)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        var started = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            while (true)
            {
                using var response = await _http.GetAsync("jobs/" + Uri.EscapeDataString(id), deadline.Token).ConfigureAwait(false);
                var delay = hintOnlyWhenBusy && response.StatusCode != HttpStatusCode.ServiceUnavailable ? pollInterval : PollDelay(response, pollInterval);
                if (response.StatusCode != HttpStatusCode.NotFound)
                {
                    var body = await ReadAsync(response, $"status of job '{id}'", deadline.Token).ConfigureAwait(false);
                    if (IsTerminal(body)) return body;
                    onPoll?.Invoke(body);
                }
                else if (started.Elapsed >= notFoundGrace)
                {
                    throw new JobClientException(404,
                        $"Job '{id}' was not found at {_http.BaseAddress}jobs/{Uri.EscapeDataString(id)} (HTTP 404)" +
                        (notFoundGrace > TimeSpan.Zero ? $" within {notFoundGrace.TotalSeconds:0} s" : "") +
                        ". Check the id and --url; a message just dropped into the queue gets a record when a worker picks it up " +
                        "(wait for that with --queued-grace SECONDS).");
                }
                await Task.Delay(delay, deadline.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"Job '{id}' did not finish within {timeout.TotalSeconds:0} s. Check it later with `serverless jobs status {id}`.");
        }
    }

    public static bool IsTerminal(JsonElement status) =>
        status.TryGetProperty("status", out var s) && s.GetString() is "succeeded" or "failed" or "cancelled";

    /// <summary>The host's <c>Retry-After</c> (seconds or a date), capped at 60 s; <paramref name="fallback"/> without one.</summary>
    public static TimeSpan PollDelay(HttpResponseMessage response, TimeSpan fallback)
    {
        var retryAfter = response.Headers.RetryAfter;
        var delay = retryAfter?.Delta ?? (retryAfter?.Date is { } date ? date - DateTimeOffset.UtcNow : (TimeSpan?)null);
        return delay is { } d ? TimeSpan.FromTicks(Math.Clamp(d.Ticks, 0, TimeSpan.FromSeconds(60).Ticks)) : fallback;
    }

    /// <summary>Drops <paramref name="text"/> into the queue as a plain-text message (the queue's encoding is "none")
    /// and returns the message id, which is the job id unless the text is a JSON spec carrying its own <c>id</c>.</summary>
    public static async Task<string> EnqueueAsync(QueueClient queue, string text, CancellationToken cancellationToken)
    {
        try
        {
            await queue.CreateIfNotExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (RequestFailedException e) when (e.Status == 403)
        {
            // Message Sender may not create queues; the deployed queue exists, and the send below reports a real denial.
        }
        var receipt = await queue.SendMessageAsync(text, cancellationToken).ConfigureAwait(false);
        return receipt.Value.MessageId;
    }

    private static async Task<JsonElement> ReadAsync(HttpResponseMessage response, string what, CancellationToken cancellationToken)
    {
        var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            var hint = response.StatusCode == HttpStatusCode.Unauthorized ? " (pass the function key with --key)" : "";
            throw new JobClientException((int)response.StatusCode, $"The {what} failed (HTTP {(int)response.StatusCode}): {ProblemDetail(text)}{hint}");
        }
        using var document = JsonDocument.Parse(text);
        return document.RootElement.Clone();
    }

    /// <summary>
    /// One line for an error body: a problem's <c>detail</c> (else its <c>title</c>) with its <c>errors</c> (field: message),
    /// decoded from its JSON (so no
    /// <c>\u0027</c>), or the body's text; line breaks folded so the error stays one line.
    /// </summary>
    internal static string ProblemDetail(string body)
    {
        var text = body;
        try
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Object)
            {
                foreach (var name in new[] { "detail", "title", "message", "error" })
                {
                    if (root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String && v.GetString() is { Length: > 0 } found)
                    {
                        text = found;
                        break;
                    }
                }
                // Invalid input: the detail says "see errors"; the fields and their messages are what to fix.
                if (root.TryGetProperty("errors", out var errors) && errors.ValueKind == JsonValueKind.Object)
                {
                    var fields = errors.EnumerateObject().Select(f => f.Name + ": " + (f.Value.ValueKind == JsonValueKind.Array
                        ? string.Join(" ", f.Value.EnumerateArray().Select(m => m.ValueKind == JsonValueKind.String ? m.GetString() : m.GetRawText()))
                        : f.Value.ToString()));
                    text += " " + string.Join("; ", fields);
                }
                if (root.TryGetProperty("correlation_id", out var correlation) && correlation.ValueKind == JsonValueKind.String)
                    text += $" (correlation id {correlation.GetString()})";
            }
        }
        catch (JsonException)
        {
            // Not JSON (a proxy's HTML page, plain text): its text is all there is.
        }
        var line = string.Join(' ', text.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        return line.Length == 0 ? "(no details in the response)" : line.Length > 500 ? line[..500] + "…" : line;
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>An HTTP error from the host, with its status code and body.</summary>
public sealed class JobClientException(int statusCode, string message) : Exception(message)
{
    public int StatusCode { get; } = statusCode;
}
