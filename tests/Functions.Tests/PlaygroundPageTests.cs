using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Serverless.Functions.Tests.Infrastructure;
using Serverless.Inference.Generation;

namespace Serverless.Functions.Tests;

/// <summary><c>GET /api/playground</c> over HTTP: one self-contained HTML page whose parameter table is the engine's.</summary>
public sealed partial class PlaygroundPageTests(KeyedHostFixture host) : IClassFixture<KeyedHostFixture>
{
    [Fact]
    public async Task The_page_is_html_served_without_a_key_while_the_api_requires_one()
    {
        using var response = await host.Anonymous.GetAsync("api/playground");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("utf-8", response.Content.Headers.ContentType?.CharSet);
        Assert.Contains("no-store", response.Headers.CacheControl?.ToString());
        Assert.StartsWith("<!doctype html>", await response.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task The_page_references_no_external_url_and_its_policy_allows_only_its_own_origin()
    {
        using var response = await host.Anonymous.GetAsync("api/playground");
        var html = await response.Content.ReadAsStringAsync();

        Assert.DoesNotMatch(ExternalUrl(), html);
        Assert.DoesNotContain("@import", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("url(", html, StringComparison.OrdinalIgnoreCase);
        Assert.All(ResourceAttribute().Matches(html), m => Assert.StartsWith("data:", m.Groups["value"].Value, StringComparison.Ordinal));

        var policy = Assert.Single(response.Headers.GetValues("Content-Security-Policy"));
        Assert.Contains("default-src 'none'", policy);
        Assert.Contains("connect-src 'self'", policy);
        // The one script and style carry the nonce of this response, and the next response has another.
        var nonce = Regex.Match(policy, "script-src 'nonce-(?<n>[^']+)'").Groups["n"].Value;
        Assert.Contains($"<script nonce=\"{nonce}\">", html);
        Assert.Contains($"<style nonce=\"{nonce}\">", html);
        using var again = await host.Anonymous.GetAsync("api/playground");
        Assert.DoesNotContain(nonce, Assert.Single(again.Headers.GetValues("Content-Security-Policy")));
    }

    [Fact]
    public async Task The_parameters_in_the_page_are_the_engines_table_with_the_hosts_limits()
    {
        using var response = await host.Anonymous.GetAsync("api/playground");
        var html = await response.Content.ReadAsStringAsync();

        var json = ConfigScript().Match(html);
        Assert.True(json.Success, "the page has no <script type=\"application/json\" id=\"config\">");
        using var config = JsonDocument.Parse(json.Groups["json"].Value);
        var parameters = config.RootElement.GetProperty("parameters").EnumerateArray().ToArray();
        Assert.Equal(GenerationParameters.All.Select(p => p.Name), parameters.Select(p => p.GetProperty("name").GetString()));
        foreach (var (expected, actual) in GenerationParameters.All.Zip(parameters))
        {
            Assert.Equal(JsonNamingPolicy.SnakeCaseLower.ConvertName(expected.Type.ToString()), actual.GetProperty("type").GetString());
            Assert.Equal(expected.Description, actual.GetProperty("description").GetString());
            Assert.Equal(expected.Minimum, actual.TryGetProperty("minimum", out var min) ? min.GetDouble() : null);
            Assert.Equal(expected.Maximum, actual.TryGetProperty("maximum", out var max) ? max.GetDouble() : null);
            Assert.Equal(expected.MinimumExclusive, actual.GetProperty("minimum_exclusive").GetBoolean());
            Assert.Equal(expected.AllowedValues, actual.GetProperty("allowed_values").EnumerateArray().Select(v => v.GetString()));
            Assert.Equal(JsonSerializer.Serialize(expected.Default), actual.TryGetProperty("default", out var d) ? d.GetRawText() : "null");
        }
        var limits = config.RootElement.GetProperty("limits");
        Assert.Equal(256, limits.GetProperty("completion_max_new_tokens").GetInt32());
        Assert.Equal(512, limits.GetProperty("job_max_new_tokens").GetInt32());
        Assert.Equal("Where is Ganymede located in the solar system?", config.RootElement.GetProperty("example_prompt").GetString());
    }

    [Theory]
    [InlineData("POST", "api/playground")]
    [InlineData("GET", "api/tokenize")]
    public async Task Other_methods_are_404_as_on_the_functions_host(string method, string path)
    {
        using var response = await host.Http.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    /// <summary>An absolute or protocol-relative URL anywhere in the page.</summary>
    [GeneratedRegex(@"https?:|(?<![:\w])//[\w.-]+\.\w", RegexOptions.IgnoreCase)]
    private static partial Regex ExternalUrl();

    /// <summary>Attributes that make the browser load something.</summary>
    [GeneratedRegex("""\b(?:src|href|action|srcset|poster)\s*=\s*["'](?<value>[^"']*)["']""", RegexOptions.IgnoreCase)]
    private static partial Regex ResourceAttribute();

    [GeneratedRegex("""<script type="application/json" id="config">(?<json>.*?)</script>""", RegexOptions.Singleline)]
    private static partial Regex ConfigScript();
}
