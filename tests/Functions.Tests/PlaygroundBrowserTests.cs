using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Playwright;
using Serverless.Functions.Tests.Infrastructure;

namespace Serverless.Functions.Tests;

/// <summary>A keyed local host and Debian's chromium, one of each for the class.</summary>
public sealed class PlaygroundBrowserFixture : KeyedHostFixture
{
    private IPlaywright? _playwright;

    public IBrowser Browser { get; private set; } = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        (_playwright, Browser) = await SystemChromium.LaunchAsync();
    }

    public override async Task DisposeAsync()
    {
        if (Browser is not null) await Browser.CloseAsync();
        _playwright?.Dispose();
        await base.DisposeAsync();
    }
}

/// <summary>
/// The playground in a real browser (headless Chromium driven by Playwright) against the local host: what it shows must
/// be what the API answers for the same request (greedy decoding: the same request gives the same tokens).
/// </summary>
public sealed class PlaygroundBrowserTests(PlaygroundBrowserFixture host) : IClassFixture<PlaygroundBrowserFixture>
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task A_streamed_run_shows_the_apis_text_the_prompts_tokens_and_the_window_it_used()
    {
        const string prompt = "Translate to German: good morning";
        await using var session = await OpenAsync();
        var page = session.Page;
        await TypeKeyAsync(page);
        await page.FillAsync("#prompt", prompt);
        await page.ClickAsync("summary:has-text('Parameters')");
        await page.FillAsync("#p-max_new_tokens", "24");
        await page.ClickAsync("#run");
        await WaitForAsync(page, "#panel-stream");

        var api = await CompleteAsync(new { inputs = prompt, parameters = new { max_new_tokens = 24 } });
        Assert.Equal(api.GetProperty("generated_text").GetString(), await page.TextContentAsync("#output"));
        Assert.Equal(api.GetProperty("finish_reason").GetString(), await page.TextContentAsync("#finish"));

        var tokens = await TokenizeAsync(prompt);
        await AssertChipsAsync(page, tokens);

        var input = api.GetProperty("input_tokens").GetInt32();
        var output = api.GetProperty("output_tokens").GetInt32();
        Assert.Equal(input.ToString(), await page.TextContentAsync("#window-prompt"));
        Assert.Equal(output.ToString(), await page.TextContentAsync("#window-generated"));
        Assert.Equal((input + output).ToString(), await page.TextContentAsync("#window-used"));
        Assert.Equal(api.GetProperty("context_window").GetInt32().ToString(), await page.TextContentAsync("#window-size"));
        // A later tokenize of the same prompt (here: the key field changes again) keeps the run's numbers on the bar.
        await page.RunAndWaitForResponseAsync(
            () => page.EvaluateAsync("() => document.getElementById('key').dispatchEvent(new Event('change'))"),
            r => r.Url.EndsWith("/api/tokenize", StringComparison.Ordinal));
        await page.EvaluateAsync("() => new Promise(resolve => setTimeout(resolve, 200))"); // its handler reads the body
        Assert.Equal(output.ToString(), await page.TextContentAsync("#window-generated"));
        Assert.Contains("ms", await page.TextContentAsync("#ttft"));
        Assert.Contains("(server)", await page.TextContentAsync("#tps"));
        // models/demo says it has random weights: the page must say so.
        Assert.True(await page.IsVisibleAsync("#demo"), "the random-weight notice is not shown");

        await page.ClickAsync("summary:has-text('Parameters')"); // folded again, as the page opens
        await page.ScreenshotAsync(new() { Path = SystemChromium.ArtifactPath("playground-stream.png"), FullPage = true });
        session.AssertCleanRun();
    }

    [Fact]
    public async Task The_queued_job_tab_shows_the_status_moving_and_ends_succeeded_with_the_same_text()
    {
        const string prompt = "Where is Io?";
        await using var session = await OpenAsync();
        var page = session.Page;
        await TypeKeyAsync(page);
        await page.FillAsync("#prompt", prompt);
        await page.ClickAsync("summary:has-text('Parameters')");
        await page.FillAsync("#p-max_new_tokens", "12");
        Assert.Equal("256", await page.GetAttributeAsync("#p-max_new_tokens", "max")); // Completions__MaxNewTokens
        await page.ClickAsync("#tab-job");
        Assert.Equal("512", await page.GetAttributeAsync("#p-max_new_tokens", "max")); // a job: Inference__MaxNewTokensCeiling
        await page.ClickAsync("#submit-job");
        await WaitForAsync(page, "#panel-job");

        var api = await CompleteAsync(new { inputs = prompt, parameters = new { max_new_tokens = 12 } });
        Assert.Equal(api.GetProperty("generated_text").GetString(), await page.TextContentAsync("#job-output"));
        Assert.Equal(["queued", "running", "succeeded"],
            await page.EvalOnSelectorAllAsync<string[]>("#job-timeline li", "items => items.map(li => li.dataset.status)"));
        Assert.Matches("^[0-9a-f]{32}$", (await page.TextContentAsync("#job-id"))!["Job ".Length..]);

        await page.ClickAsync("summary:has-text('Parameters')");
        await page.ScreenshotAsync(new() { Path = SystemChromium.ArtifactPath("playground-job.png"), FullPage = true });
        session.AssertCleanRun();
    }

    [Fact]
    public async Task A_keyboard_only_user_can_type_the_key_and_prompt_and_run_both_tabs()
    {
        const string prompt = "What is Ganymede?";
        await using var session = await OpenAsync();
        var page = session.Page;

        await TabToAsync(page, "key");
        await page.Keyboard.TypeAsync(KeyedHostFixture.FunctionKey);
        await TabToAsync(page, "prompt");
        await page.Keyboard.TypeAsync(prompt);
        await page.Keyboard.PressAsync("Control+Enter");
        await WaitForAsync(page, "#panel-stream");

        // Nothing set: the model's defaults, as for an API request without parameters.
        var api = await CompleteAsync(new { inputs = prompt });
        Assert.Equal(api.GetProperty("generated_text").GetString(), await page.TextContentAsync("#output"));

        await TabToAsync(page, "tab-stream");
        await page.Keyboard.PressAsync("ArrowRight");
        Assert.Equal("true", await page.GetAttributeAsync("#tab-job", "aria-selected"));
        await TabToAsync(page, "submit-job");
        await page.Keyboard.PressAsync("Enter");
        await WaitForAsync(page, "#panel-job");
        Assert.Equal(api.GetProperty("generated_text").GetString(), await page.TextContentAsync("#job-output"));
        session.AssertCleanRun();
    }

    [Fact]
    public async Task A_parameter_the_api_refuses_is_shown_beside_its_field()
    {
        await using var session = await OpenAsync();
        var page = session.Page;
        await TypeKeyAsync(page);
        await page.ClickAsync("summary:has-text('Parameters')");
        // In range for the browser's own checks, refused by the API: beam search cannot sample.
        await page.SelectOptionAsync("#p-do_sample", "true");
        await page.FillAsync("#p-num_beams", "2");
        await page.ClickAsync("#run");
        await page.WaitForSelectorAsync("#panel-stream[data-state=error]", new() { Timeout = (float)RunTimeout.TotalMilliseconds });

        Assert.Equal("true", await page.GetAttributeAsync("#p-num_beams", "aria-invalid"));
        Assert.Contains("do_sample", await page.TextContentAsync("#p-num_beams-error"));
        Assert.True(await page.IsVisibleAsync("#p-num_beams-error"));
        Assert.Contains("400", await page.TextContentAsync("#status"));
        Assert.Equal("", await page.TextContentAsync("#output"));
        session.AssertCleanRun();
    }

    [Fact]
    public async Task Without_the_key_the_page_loads_and_says_the_host_needs_one()
    {
        await using var session = await OpenAsync();
        var page = session.Page;

        await page.WaitForFunctionAsync("() => document.getElementById('status').textContent.includes('function key')", null, new() { Timeout = 10_000 });
        Assert.Equal("true", await page.GetAttributeAsync("#key", "aria-invalid"));
        Assert.Equal(0, await page.Locator("#chips li").CountAsync());
    }

    private async Task<BrowserSession> OpenAsync()
    {
        var context = await host.Browser.NewContextAsync(new() { BaseURL = host.Http.BaseAddress!.ToString(), ViewportSize = new() { Width = 1280, Height = 900 } });
        var page = await context.NewPageAsync();
        var session = new BrowserSession(context, page, host.Http.BaseAddress!);
        var response = await page.GotoAsync("api/playground");
        Assert.Equal((int)HttpStatusCode.OK, response?.Status);
        return session;
    }

    /// <summary>Types the key once and leaves the field (its change event stores it and fetches the prompt's tokens).</summary>
    private static async Task TypeKeyAsync(IPage page)
    {
        await page.FillAsync("#key", KeyedHostFixture.FunctionKey);
        await page.PressAsync("#key", "Tab");
    }

    /// <summary>Presses Tab until the element has the focus (a bounded number of times).</summary>
    private static async Task TabToAsync(IPage page, string id)
    {
        for (var i = 0; i < 40; i++)
        {
            if (await page.EvaluateAsync<string>("() => document.activeElement?.id ?? ''") == id) return;
            await page.Keyboard.PressAsync("Tab");
        }
        Assert.Fail($"#{id} never got the focus from the keyboard");
    }

    /// <summary>Waits until the panel's run ended and asserts it succeeded, with the page's status line otherwise.</summary>
    private static async Task WaitForAsync(IPage page, string panel)
    {
        await page.WaitForSelectorAsync($"{panel}:is([data-state=done],[data-state=error],[data-state=failed])",
            new() { Timeout = (float)RunTimeout.TotalMilliseconds });
        var state = await page.GetAttributeAsync(panel, "data-state");
        Assert.True(state == "done", $"{panel} ended {state}: {await page.TextContentAsync("#status")}");
    }

    private static async Task AssertChipsAsync(IPage page, JsonElement tokens)
    {
        var ids = string.Join(",", tokens.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()));
        // The chips follow typing after a short pause: wait for them, then compare.
        await page.WaitForFunctionAsync("ids => [...document.querySelectorAll('#chips li')].map(li => li.dataset.id).join(',') === ids", ids,
            new() { Timeout = 10_000 });
        Assert.Equal(tokens.GetProperty("pieces").EnumerateArray().Select(e => e.GetString()),
            await page.EvalOnSelectorAllAsync<string[]>("#chips li .piece", "pieces => pieces.map(p => p.textContent)"));
        Assert.Equal(tokens.GetProperty("ids").EnumerateArray().Select(e => $"id {e.GetInt32()}"),
            await page.EvalOnSelectorAllAsync<string[]>("#chips li", "chips => chips.map(c => c.title)"));
    }

    private async Task<JsonElement> CompleteAsync(object spec)
    {
        using var response = await host.Http.PostAsJsonAsync("api/completions", spec);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {text}");
        using var document = JsonDocument.Parse(text);
        return document.RootElement.Clone();
    }

    private async Task<JsonElement> TokenizeAsync(string text)
    {
        using var response = await host.Http.PostAsJsonAsync("api/tokenize", new { inputs = text });
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return document.RootElement.Clone();
    }

    /// <summary>A page in its own browser context that records what could break "self-contained": a request to another
    /// origin, a Content-Security-Policy violation, an uncaught script error.</summary>
    private sealed class BrowserSession : IAsyncDisposable
    {
        private readonly IBrowserContext _context;
        private readonly List<string> _problems = [];

        public BrowserSession(IBrowserContext context, IPage page, Uri origin)
        {
            _context = context;
            Page = page;
            page.Request += (_, request) =>
            {
                if (!request.Url.StartsWith(origin.GetLeftPart(UriPartial.Authority) + "/", StringComparison.Ordinal) && !request.Url.StartsWith("data:", StringComparison.Ordinal))
                    _problems.Add("request to another origin: " + request.Url);
            };
            page.Console += (_, message) =>
            {
                if (message.Text.Contains("Content Security Policy", StringComparison.OrdinalIgnoreCase)) _problems.Add("console: " + message.Text);
            };
            page.PageError += (_, error) => _problems.Add("script error: " + error);
        }

        public IPage Page { get; }

        public void AssertCleanRun() => Assert.True(_problems.Count == 0, string.Join("\n", _problems));

        public async ValueTask DisposeAsync() => await _context.CloseAsync();
    }
}
