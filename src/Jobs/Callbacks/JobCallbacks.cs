using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Serverless.Jobs.Http;
using Serverless.Jobs.Storage;

namespace Serverless.Jobs.Callbacks;

/// <summary>
/// Sends a finished job (succeeded, failed or cancelled) to its <c>callback_url</c>: one POST of the status as
/// <c>GET /api/jobs/{id}</c> shows it, without the results, signed <c>X-Signature-256: sha256=HEX</c> (HMAC-SHA256 of
/// the body bytes with <see cref="CallbackOptions.Secret"/>). A try that times out, cannot connect or is answered 408,
/// 429 or 5xx is retried, at most <see cref="CallbackOptions.MaxAttempts"/> tries with a doubling delay; any other answer
/// ends the delivery. The outcome goes on the record (<c>callback</c>), which never changes its status.
/// </summary>
/// <remarks>
/// Whoever ends a job calls <see cref="NotifyAsync"/>: the worker (also for a cancel it sees: the message of a queued job
/// cancelled over HTTP finds the record cancelled), the poison handler. A record that ended without a recorded outcome
/// (the instance died in between) is sent when its message comes back: at least once, so the receiver should expect
/// a rare repeat (<c>X-Job-Id</c>). Outside Development the client connects only to public addresses, checked for every
/// address the name resolves to at connect time (a name that later resolves to a private address is refused), and it
/// follows no redirects.
/// </remarks>
internal sealed class JobCallbacks : IDisposable
{
    public const string SignatureHeader = "X-Signature-256";
    public const string JobIdHeader = "X-Job-Id";

    private readonly JobStore _store;
    private readonly CallbackOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<JobCallbacks> _logger;
    private readonly HttpClient _http;

    public JobCallbacks(JobStore store, CallbackOptions options, TimeProvider time, ILogger<JobCallbacks> logger)
    {
        _store = store;
        _options = options;
        _time = time;
        _logger = logger;
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            // A proxy would make the address check meaningless (it would check the proxy).
            UseProxy = false,
            PooledConnectionLifetime = TimeSpan.FromMinutes(2),
        };
        if (!options.Development) handler.ConnectCallback = ConnectToPublicAddressAsync;
        _http = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
    }

    /// <summary>Delivers the callback of a finished job that names one and has no recorded outcome yet; otherwise does
    /// nothing. The receiver's failures are recorded, never thrown; the caller's cancellation is (the message comes back
    /// and the next delivery sends it).</summary>
    public async Task NotifyAsync(JobRecord? job, CancellationToken cancellationToken)
    {
        if (job is not { IsTerminal: true, CallbackUrl: { } url, Callback: null }) return;
        var body = JsonSerializer.SerializeToUtf8Bytes(JobStatusResponse.From(job, null), JobsJson.Options);
        var signature = "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(_options.Secret), body));
        // The host only: the URL's path or query may carry the receiver's own token.
        var host = new Uri(url).Authority;
        var attempts = Math.Max(1, _options.MaxAttempts);
        CallbackDelivery? outcome = null;
        for (var attempt = 1; attempt <= attempts; attempt++)
        {
            if (attempt > 1)
                await Task.Delay(_options.RetryDelay * Math.Pow(2, attempt - 2), _time, cancellationToken).ConfigureAwait(false);
            var (delivery, retry) = await TryOnceAsync(job.Id, url, body, signature, attempt, cancellationToken).ConfigureAwait(false);
            outcome = delivery;
            if (delivery.State == CallbackDelivery.Delivered) break;
            _logger.LogWarning("Job {JobId}: callback to {CallbackHost} failed (try {Attempt} of {Attempts}): {Reason}", job.Id, host, attempt, attempts, delivery.Error);
            if (!retry) break;
        }

        if (outcome!.State == CallbackDelivery.Delivered)
            _logger.LogInformation("Job {JobId}: callback delivered to {CallbackHost} ({StatusCode}, try {Attempt})", job.Id, host, outcome.StatusCode, outcome.Attempts);
        else
            _logger.LogWarning("Job {JobId}: callback to {CallbackHost} given up after {Attempts} tries; the job stays {Status}", job.Id, host, outcome.Attempts, job.Status);
        try
        {
            await _store.UpdateAsync(job.Id, r => r?.CallbackDone(outcome), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (StorageFailure.Is(e, cancellationToken))
        {
            // The callback was sent (or given up); only its record is missing: a later delivery of the message would send it again.
            _logger.LogWarning(e, "Job {JobId}: could not record the callback outcome", job.Id);
        }
    }

    private async Task<(CallbackDelivery Delivery, bool Retry)> TryOnceAsync(string id, string url, byte[] body, string signature, int attempt,
        CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.Timeout);
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        request.Headers.Add(SignatureHeader, signature);
        request.Headers.Add(JobIdHeader, id);
        request.Headers.Add("X-Callback-Attempt", attempt.ToString(CultureInfo.InvariantCulture));
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
            var code = (int)response.StatusCode;
            return response.IsSuccessStatusCode
                ? (new CallbackDelivery(CallbackDelivery.Delivered, attempt, _time.GetUtcNow(), code), false)
                : (new CallbackDelivery(CallbackDelivery.Failed, attempt, _time.GetUtcNow(), code, $"The receiver answered {code}."),
                    code is 408 or 429 or >= 500);
        }
        catch (HttpRequestException e) when (e.InnerException is CallbackAddressException refused)
        {
            return (new CallbackDelivery(CallbackDelivery.Failed, attempt, _time.GetUtcNow(), Error: refused.Message), false);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested && e is HttpRequestException or OperationCanceledException)
        {
            var error = e is OperationCanceledException ? $"No answer within {_options.Timeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s." : e.Message;
            return (new CallbackDelivery(CallbackDelivery.Failed, attempt, _time.GetUtcNow(), Error: error), true);
        }
    }

    /// <summary>Connects only to public addresses of the name, resolved now (a check at submit time alone could be
    /// undone by a later DNS answer).</summary>
    private static async ValueTask<Stream> ConnectToPublicAddressAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var host = context.DnsEndPoint.Host;
        var addresses = IPAddress.TryParse(host, out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, cancellationToken).ConfigureAwait(false);
        var allowed = addresses.Where(CallbackUrl.IsPublic).ToArray();
        if (allowed.Length == 0 || allowed.Length != addresses.Length)
            throw new CallbackAddressException($"{host} resolves to a private, loopback or link-local address; callbacks go to public addresses only.");
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(allowed, context.DnsEndPoint.Port, cancellationToken).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public void Dispose() => _http.Dispose();

    private sealed class CallbackAddressException(string message) : Exception(message);
}
