using System.Net;
using System.Text.Json;

namespace Serverless.Functions.Tests.Infrastructure;

/// <summary>Polls <c>GET /api/jobs/{id}</c> until the job is succeeded or failed.</summary>
internal static class JobWaiter
{
    public static async Task<JsonElement> WaitAsync(HttpClient http, string id, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        JsonElement? last = null;
        try
        {
            while (true)
            {
                using var response = await http.GetAsync($"api/jobs/{id}", cts.Token);
                // A job dropped into the queue has no record until the worker picks it up.
                if (response.StatusCode != HttpStatusCode.NotFound)
                {
                    Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                    using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cts.Token));
                    last = document.RootElement.Clone();
                    if (last.Value.GetProperty("status").GetString() is "succeeded" or "failed") return last.Value;
                }
                await Task.Delay(200, cts.Token);
            }
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            throw new TimeoutException($"Job {id} did not finish within {timeout}. Last status: {(last is null ? "no record" : last.Value.GetRawText())}");
        }
    }

    public static string Status(this JsonElement job) => job.GetProperty("status").GetString()!;
}
