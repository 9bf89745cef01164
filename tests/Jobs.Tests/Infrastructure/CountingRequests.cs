using System.Collections.Concurrent;
using Azure.Core;
using Azure.Core.Pipeline;
using Serverless.Jobs.Storage;

namespace Serverless.Jobs.Tests.Infrastructure;

/// <summary>Each request that names a job, as "METHOD kind": its record, its time-index entry (metadata: a metadata
/// write) or its output.</summary>
internal sealed class CountingRequests : HttpPipelineSynchronousPolicy
{
    private readonly ConcurrentQueue<(string Id, string Request)> _requests = new();

    public string[] Of(string id) => [.. _requests.Where(r => r.Id == id).Select(r => r.Request).Order(StringComparer.Ordinal)];

    public void Clear() => _requests.Clear();

    public override void OnSendingRequest(HttpMessage message)
    {
        var uri = message.Request.Uri.ToUri();
        var segments = uri.AbsolutePath.Split('/', StringSplitOptions.RemoveEmptyEntries); // account, container, blob…
        if (segments.Length < 3) return;
        var container = segments[1];
        var blob = string.Join('/', segments[2..]);
        var method = message.Request.Method.Method;
        var metadata = uri.Query.Contains("comp=metadata", StringComparison.Ordinal) ? " metadata" : "";
        if (blob.StartsWith(JobTimeIndex.Prefix, StringComparison.Ordinal))
        {
            var name = blob[JobTimeIndex.Prefix.Length..]; // {19 digits}-{id}
            _requests.Enqueue((name[(name.IndexOf('-', StringComparison.Ordinal) + 1)..], $"{method} index{metadata}"));
        }
        else if (blob.EndsWith(".json", StringComparison.Ordinal) && !blob.Contains('/', StringComparison.Ordinal))
        {
            _requests.Enqueue((blob[..^".json".Length], container.EndsWith("-completions", StringComparison.Ordinal) ? $"{method} output" : $"{method} record"));
        }
    }
}
