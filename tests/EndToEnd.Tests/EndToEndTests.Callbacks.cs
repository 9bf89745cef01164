using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Serverless.EndToEnd.Tests.Infrastructure;
using Serverless.Jobs.Tests.Infrastructure;

namespace Serverless.EndToEnd.Tests;

public abstract partial class EndToEndTests<THost>
{
    [SkippableFact]
    public async Task A_callback_url_receives_the_final_status_once_signed_with_the_hosts_secret()
    {
        SkipIfUnavailable();
        Skip.If(host.CallbackSecret is null, $"{host.Name} host: no callback secret known here, or it cannot reach a listener on this machine");
        using var receiver = new CallbackReceiver(200);

        using var response = await host.Http.PostAsync("api/jobs", HostFixture.Json(new { prompt = Prompt, parameters = new { max_new_tokens = 4 }, callback_url = receiver.Url }));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"{(int)response.StatusCode}: {text}");
        var id = JsonDocument.Parse(text).RootElement.GetProperty("id").GetString()!;
        Assert.Equal("succeeded", (await host.WaitAsync(id)).GetProperty("status").GetString());

        // The worker posts as it ends the job, and records the outcome just after.
        JsonElement callback = default;
        for (var waited = 0; waited < 100 && !(await StatusAsync(id)).TryGetProperty("callback", out callback); waited++) await Task.Delay(100);
        Assert.Equal("delivered", callback.GetProperty("state").GetString());
        var received = Assert.Single(receiver.Requests);
        var signature = "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(host.CallbackSecret!), received.Body));
        Assert.Equal(signature, received.Headers["X-Signature-256"]);
        using var body = JsonDocument.Parse(received.Body);
        Assert.Equal(id, body.RootElement.GetProperty("id").GetString());
        Assert.Equal("succeeded", body.RootElement.GetProperty("status").GetString());
        await Task.Delay(500);
        Assert.Single(receiver.Requests);
    }

    private async Task<JsonElement> StatusAsync(string id)
    {
        using var response = await host.Http.GetAsync($"api/jobs/{id}");
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
    }
}
