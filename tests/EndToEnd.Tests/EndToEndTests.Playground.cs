using System.Net;
using System.Text;
using System.Text.Json;
using Serverless.EndToEnd.Tests.Infrastructure;

namespace Serverless.EndToEnd.Tests;

/// <summary><c>GET /api/playground</c> and <c>POST /api/tokenize</c> on every host (the page in a browser: Functions.Tests).</summary>
public abstract partial class EndToEndTests<THost>
{
    [SkippableFact]
    public async Task The_playground_page_is_served_without_a_key_as_self_contained_html()
    {
        SkipIfUnavailable();
        using var response = await host.Anonymous.GetAsync("api/playground");
        var html = await response.Content.ReadAsStringAsync();

        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {html}");
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        Assert.StartsWith("<!doctype html>", html, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("<script type=\"application/json\" id=\"config\">", html);
        Assert.DoesNotContain("http:", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("https:", html, StringComparison.OrdinalIgnoreCase);
        // The host passes the page's policy through: the browser then loads nothing from elsewhere.
        Assert.Contains("default-src 'none'", Assert.Single(response.Headers.GetValues("Content-Security-Policy")));
    }

    [SkippableFact]
    public async Task Tokenize_counts_a_prompt_as_a_completion_does()
    {
        SkipIfUnavailable();
        using var tokenize = await host.Http.PostAsync("api/tokenize", HostFixture.Json(new { inputs = Prompt }));
        var text = await tokenize.Content.ReadAsStringAsync();
        Assert.True(tokenize.StatusCode == HttpStatusCode.OK, $"{(int)tokenize.StatusCode}: {text}");
        Assert.Equal("application/json", tokenize.Content.Headers.ContentType?.MediaType);
        using var tokens = JsonDocument.Parse(text);

        using var completion = await host.Http.PostAsync("api/completions", HostFixture.Json(new { inputs = Prompt, parameters = new { max_new_tokens = 2 } }));
        using var final = JsonDocument.Parse(await completion.Content.ReadAsStringAsync());

        var ids = tokens.RootElement.GetProperty("ids").GetArrayLength();
        Assert.Equal(final.RootElement.GetProperty("input_tokens").GetInt32(), ids);
        Assert.Equal(ids, tokens.RootElement.GetProperty("pieces").GetArrayLength());
        Assert.Equal(final.RootElement.GetProperty("context_window").GetInt32(), tokens.RootElement.GetProperty("context_window").GetInt32());
        Assert.Contains(tokens.RootElement.GetProperty("model").GetProperty("random_weights").ValueKind, new[] { JsonValueKind.True, JsonValueKind.False });
    }

    [SkippableFact]
    public async Task Tokenize_refuses_a_bad_field_with_400_and_a_large_body_with_413_and_needs_the_key_where_keys_are_enforced()
    {
        SkipIfUnavailable();
        using (var bad = await host.Http.PostAsync("api/tokenize", new StringContent("""{"inputs": 5}""", Encoding.UTF8, "application/json")))
            Assert.Equal(["inputs"], Errors(await AssertProblemAsync(bad, HttpStatusCode.BadRequest)));
        // Over Completions__MaxRequestBodyBytes (64 KiB unless a host sets more than 1 MiB).
        using (var large = await host.Http.PostAsync("api/tokenize", HostFixture.Json(new { inputs = new string('a', 1024 * 1024) })))
            Assert.Equal(["body"], Errors(await AssertProblemAsync(large, HttpStatusCode.RequestEntityTooLarge)));

        if (host.FunctionKey is null) return;
        using var anonymous = await host.Anonymous.PostAsync("api/tokenize", HostFixture.Json(new { inputs = Prompt }));
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
    }
}
