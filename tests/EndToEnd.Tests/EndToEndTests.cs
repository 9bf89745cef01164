using System.Net;
using System.Text;
using System.Text.Json;
using Serverless.EndToEnd.Tests.Infrastructure;

namespace Serverless.EndToEnd.Tests;

/// <summary>
/// The suite every host runs, black box: HTTP to the API and the storage clients for queue drops and outputs. Each host
/// has a derived class with its fixture (see <c>Hosts/</c>); a host that is not available here is skipped, saying why.
/// </summary>
public abstract partial class EndToEndTests<THost>(THost host) where THost : HostFixture
{
    private const string Prompt = "Where is Ganymede located in the solar system?";
    private static readonly TimeSpan DropTimeout = TimeSpan.FromSeconds(60);

    private void SkipIfUnavailable() => Skip.If(host.SkipReason is not null, $"{host.Name} host: {host.SkipReason}");

    private void SkipIfNoStorage()
    {
        SkipIfUnavailable();
        Skip.If(host.StorageConnection is null, $"{host.Name} host: no storage connection given (E2E_STORAGE_CONNECTION)");
    }

    [SkippableFact]
    public async Task Http_submit_answers_202_with_location_and_ends_with_a_completion_blob()
    {
        SkipIfUnavailable();
        using var response = await host.Http.PostAsync("api/jobs", HostFixture.Json(new { prompts = new[] { Prompt, "Translate to German: good morning" }, parameters = new { max_new_tokens = 8 } }));
        var text = await response.Content.ReadAsStringAsync();

        Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"{(int)response.StatusCode}: {text}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using var body = JsonDocument.Parse(text);
        var id = body.RootElement.GetProperty("id").GetString()!;
        Assert.Equal("queued", body.RootElement.GetProperty("status").GetString());
        Assert.Equal(2, body.RootElement.GetProperty("prompt_count").GetInt32());
        Assert.Equal($"/api/jobs/{id}", response.Headers.Location?.OriginalString);
        Assert.Equal(new Uri(host.BaseUrl, $"api/jobs/{id}").ToString(), body.RootElement.GetProperty("status_url").GetString());
        Assert.Equal("2", response.Headers.GetValues("Retry-After").Single());

        var job = await host.WaitAsync(id);
        Assert.True(job.GetProperty("status").GetString() == "succeeded", job.GetRawText());
        var results = job.GetProperty("results").EnumerateArray().ToArray();
        Assert.Equal(2, results.Length);
        Assert.All(results, r => Assert.InRange(r.GetProperty("output_tokens").GetInt32(), 1, 8));

        using var get = await host.Http.GetAsync($"api/jobs/{id}");
        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        Assert.Equal("application/json", get.Content.Headers.ContentType?.MediaType);

        if (host.StorageConnection is null) return;
        var blob = await host.Completions.GetBlobClient($"{id}.json").DownloadContentAsync();
        using var output = JsonDocument.Parse(blob.Value.Content.ToString());
        Assert.Equal(id, output.RootElement.GetProperty("id").GetString());
        Assert.Equal(
            results.Select(r => r.GetProperty("completion").GetString()),
            output.RootElement.GetProperty("results").EnumerateArray().Select(r => r.GetProperty("completion").GetString()));
    }

    [SkippableFact]
    public async Task A_plain_text_queue_drop_runs_under_the_message_id()
    {
        SkipIfNoStorage();
        var receipt = await host.Queue.SendMessageAsync(Prompt);
        var id = receipt.Value.MessageId;

        var job = await host.WaitAsync(id, DropTimeout);

        Assert.True(job.GetProperty("status").GetString() == "succeeded", job.GetRawText());
        Assert.Equal(id, job.GetProperty("id").GetString());
        Assert.True((await host.Completions.GetBlobClient($"{id}.json").ExistsAsync()).Value);
    }

    /// <summary>
    /// JSON queue messages, many with properties named like the queue trigger's binding data (<c>id</c>,
    /// <c>dequeueCount</c>, <c>popReceipt</c>, …; the Functions host adds a JSON message's top-level properties to it).
    /// The job id is the message id, unless the message is a job spec whose own <c>id</c> is a valid job id string.
    /// A spec with an invalid <c>id</c> ends failed under the message id, with the reason.
    /// Columns: case, message ({SPEC_ID} = a fresh valid id), whose id the job has ("message" or "spec"), final status,
    /// text the error names ("" when it succeeds).
    /// </summary>
    public static TheoryData<string, string, string, string, string> JsonDrops => new()
    {
        { "non-spec object with id", """{"id": "{SPEC_ID}", "text": "Where is Ganymede?"}""", "message", "succeeded", "" },
        { "non-spec object with Id", """{"Id": "{SPEC_ID}", "text": "Where is Ganymede?"}""", "message", "succeeded", "" },
        { "dequeueCount not a number", """{"dequeueCount": "many", "text": "Where is Ganymede?"}""", "message", "succeeded", "" },
        { "DequeueCount", """{"DequeueCount": 99, "text": "Where is Ganymede?"}""", "message", "succeeded", "" },
        { "message metadata names", """{"messageId": "{SPEC_ID}", "popReceipt": "x", "insertionTime": "2001-01-01T00:00:00Z", "expirationTime": "2001-01-02T00:00:00Z", "nextVisibleTime": "2001-01-01T00:00:00Z", "queueTrigger": "y", "text": "Where is Ganymede?"}""", "message", "succeeded", "" },
        { "spec with a valid id", """{"id": "{SPEC_ID}", "prompt": "Where is Ganymede?", "parameters": {"max_new_tokens": 8}}""", "spec", "succeeded", "" },
        { "spec with Id (not its id field)", """{"Id": "{SPEC_ID}", "prompt": "Where is Ganymede?"}""", "message", "failed", "Id" },
        { "spec with id and dequeueCount", """{"id": "{SPEC_ID}", "prompt": "Where is Ganymede?", "dequeueCount": 7}""", "spec", "failed", "dequeueCount" },
        { "spec id a number", """{"id": 42, "prompt": "Where is Ganymede?"}""", "message", "failed", "id" },
        { "spec id an object", """{"id": {"value": "x"}, "prompt": "Where is Ganymede?"}""", "message", "failed", "id" },
        { "spec id with a slash", """{"id": "a/b", "prompt": "Where is Ganymede?"}""", "message", "failed", "id" },
        { "spec id empty", """{"id": "", "prompt": "Where is Ganymede?"}""", "message", "failed", "id" },
        { "spec id too long", $$"""{"id": "{{new string('a', 65)}}", "prompt": "Where is Ganymede?"}""", "message", "failed", "id" },
        { "spec with a lone surrogate", """{"prompt": "lone \ud800 surrogate"}""", "message", "failed", "prompt" },
    };

    [SkippableTheory]
    [MemberData(nameof(JsonDrops))]
    public async Task A_json_queue_drop_runs_under_the_documented_job_id(string @case, string template, string owner, string status, string errorNames)
    {
        SkipIfNoStorage();
        var specId = "e2e-" + Guid.NewGuid().ToString("N");
        var receipt = await host.Queue.SendMessageAsync(template.Replace("{SPEC_ID}", specId, StringComparison.Ordinal));
        var messageId = receipt.Value.MessageId;
        var (jobId, otherId) = owner == "spec" ? (specId, messageId) : (messageId, specId);

        var job = await host.WaitAsync(jobId, DropTimeout);

        Assert.True(job.GetProperty("status").GetString() == status, $"{@case}: {job.GetRawText()}");
        Assert.Equal(jobId, job.GetProperty("id").GetString());
        if (status == "failed")
        {
            var error = job.GetProperty("error");
            Assert.Equal("invalid_message", error.GetProperty("code").GetString());
            Assert.Contains(errorNames, error.GetProperty("message").GetString());
        }
        else
        {
            Assert.True((await host.Completions.GetBlobClient($"{jobId}.json").ExistsAsync()).Value, $"{@case}: no completions/{jobId}.json");
        }
        // No second job under the other id.
        using var other = await host.Http.GetAsync($"api/jobs/{otherId}");
        Assert.Equal(HttpStatusCode.NotFound, other.StatusCode);
    }

    /// <summary>Every 400 of POST /api/jobs (see src/Jobs/README.md); "{OVER_LIMIT}" = one prompt more than the host allows.</summary>
    public static TheoryData<string, string[]> InvalidSubmits => new()
    {
        { """{"prompt": "hi", """, ["body"] },                                            // malformed JSON
        { "", ["body"] },                                                                  // no body
        { "[\"hi\"]", ["body"] },                                                          // not an object
        { """{"parameters": {"max_new_tokens": 5}}""", ["prompt"] },                       // missing prompt
        { """{"prompt": "a", "prompts": ["b"]}""", ["prompt"] },                           // both
        { """{"prompt": "   "}""", ["prompt"] },                                           // blank
        { """{"prompt": 42}""", ["prompt"] },                                              // wrong type
        { """{"prompts": []}""", ["prompts"] },                                            // empty list
        { """{"prompts": {OVER_LIMIT}}""", ["prompts"] },                                  // over Jobs__MaxPromptsPerJob
        { """{"prompts": ["a", 7, "c"]}""", ["prompts[1]"] },
        { """{"prompts": ["a", "b", ""]}""", ["prompts[2]"] },
        { """{"prompt": "a", "id": "mine"}""", ["id"] },                                    // ids are assigned by the server
        { """{"prompt": "a", "temperature": 0.5}""", ["temperature"] },                    // parameter outside "parameters"
        { """{"prompt": "a", "parameters": {"max_tokens": 5}}""", ["parameters.max_tokens"] },
        { """{"prompt": "a", "parameters": {"top_p": 1.5}}""", ["parameters.top_p"] },
        { """{"prompt": "a", "parameters": {"max_new_tokens": 100000}}""", ["parameters.max_new_tokens"] },
        { """{"prompt": "a", "parameters": {"temperature": "hot"}}""", ["parameters.temperature"] },
        { """{"prompt": "a", "parameters": {"num_beams": 2.5}}""", ["parameters.num_beams"] },
        { """{"prompt": "a", "parameters": {"truncation": "middle"}}""", ["parameters.truncation"] },
        { """{"prompt": "a", "parameters": [1, 2]}""", ["parameters"] },
        { """{"prompt": "lone \ud800 surrogate"}""", ["prompt"] },                      // not valid Unicode
        { """{"prompt": "hi", "parameters": {"stop_strings": ["\udc00"]}}""", ["parameters.stop_strings[0]"] },
        { """{"prompts": ["ok", "", 3], "parameters": {"top_p": -1, "bogus": true, "top_k": "x"}, "extra": 1}""",
            ["prompts[1]", "prompts[2]", "parameters.top_p", "parameters.bogus", "parameters.top_k", "extra"] },
    };

    [SkippableTheory]
    [MemberData(nameof(InvalidSubmits))]
    public async Task An_invalid_submit_is_400_problem_naming_every_bad_field(string body, string[] fields)
    {
        SkipIfUnavailable();
        var overLimit = JsonSerializer.Serialize(Enumerable.Range(0, host.MaxPromptsPerJob + 1).Select(i => $"prompt {i}"));
        using var content = new StringContent(body.Replace("{OVER_LIMIT}", overLimit, StringComparison.Ordinal), Encoding.UTF8, "application/json");
        using var response = await host.Http.PostAsync("api/jobs", content);

        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal(fields.Order(StringComparer.Ordinal), Errors(problem).Order(StringComparer.Ordinal));
    }

    [SkippableFact]
    public async Task A_body_that_is_not_valid_utf8_is_400_naming_the_field()
    {
        SkipIfUnavailable();
        using var content = new ByteArrayContent([.. "{\"prompt\": \"bad "u8, 0xC3, 0x28, .. " utf8\"}"u8]);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        using var response = await host.Http.PostAsync("api/jobs", content);

        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal(["prompt"], Errors(problem));
    }

    [SkippableFact]
    public async Task A_prompt_over_the_context_window_is_400_with_its_token_count()
    {
        SkipIfUnavailable();
        var prompt = string.Join(' ', Enumerable.Repeat("Ganymede", 600)); // the demo model's window is 512 tokens
        using var response = await host.Http.PostAsync("api/jobs", HostFixture.Json(new { prompt }));

        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal(["prompt"], Errors(problem));
        Assert.Contains("512", problem.GetProperty("errors").GetProperty("prompt")[0].GetString());
    }

    [SkippableFact]
    public async Task A_body_over_the_limit_is_413_problem()
    {
        SkipIfUnavailable();
        var prompt = new string('a', host.MaxRequestBodyBytes);
        using var response = await host.Http.PostAsync("api/jobs", HostFixture.Json(new { prompt }));

        var problem = await AssertProblemAsync(response, HttpStatusCode.RequestEntityTooLarge);
        Assert.Equal(["body"], Errors(problem));
    }

    [SkippableTheory]
    [InlineData("x%2Fy")]
    [InlineData("..%2Fx")]
    [InlineData("a.json")]
    [InlineData("a%2Eb")]
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")] // 65 characters
    public async Task A_get_with_a_malformed_id_is_400_problem(string id)
    {
        SkipIfUnavailable();
        using var response = await host.Http.GetAsync($"api/jobs/{id}");

        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal(["id"], Errors(problem));
    }

    [SkippableFact]
    public async Task A_get_of_an_unknown_id_is_404_problem()
    {
        SkipIfUnavailable();
        using var response = await host.Http.GetAsync($"api/jobs/{new string('a', 64)}");

        await AssertProblemAsync(response, HttpStatusCode.NotFound);
    }

    /// <summary>No function matches (a path, or a method the route does not take): an empty 404 from the host, with or
    /// without a key. (GET api/jobs lists and DELETE api/jobs/{id} cancels.)</summary>
    [SkippableTheory]
    [InlineData("PUT", "api/jobs")]
    [InlineData("DELETE", "api/jobs")]
    [InlineData("PATCH", "api/jobs/abc")]
    [InlineData("POST", "api/jobs/abc")]
    [InlineData("GET", "api/jobs/abc/cancel")]
    [InlineData("GET", "api/nothing")]
    [InlineData("POST", "api/playground")]
    [InlineData("GET", "api/tokenize")]
    public async Task A_request_no_function_takes_is_404(string method, string path)
    {
        SkipIfUnavailable();
        foreach (var client in new[] { host.Http, host.Anonymous })
        {
            using var request = new HttpRequestMessage(new HttpMethod(method), path);
            using var response = await client.SendAsync(request);
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.Equal("", await response.Content.ReadAsStringAsync());
        }
    }

    [SkippableFact]
    public async Task Function_requests_without_the_key_are_401_where_keys_are_enforced()
    {
        SkipIfUnavailable();
        Skip.If(host.FunctionKey is null, $"{host.Name} host: no function key is enforced (as under Core Tools locally)");
        var key = host.FunctionKey!;
        var unknown = new string('b', 64);

        async Task<HttpResponseMessage> Send(HttpMethod method, string path, string? header = null, HttpContent? content = null)
        {
            var request = new HttpRequestMessage(method, path) { Content = content };
            if (header is not null) request.Headers.Add("x-functions-key", header);
            return await host.Anonymous.SendAsync(request);
        }

        foreach (var response in new[]
                 {
                     await Send(HttpMethod.Post, "api/jobs", content: HostFixture.Json(new { prompt = Prompt })),
                     await Send(HttpMethod.Get, $"api/jobs/{unknown}"),
                     await Send(HttpMethod.Get, $"api/jobs/{unknown}?code=wrong-key-0000000000"),
                     await Send(HttpMethod.Get, $"api/jobs/{unknown}", header: "wrong-key-0000000000"),
                     // The header is the key sent: a right ?code= does not rescue a wrong header.
                     await Send(HttpMethod.Get, $"api/jobs/{unknown}?code={key}", header: "wrong-key-0000000000"),
                 })
        {
            using (response)
            {
                Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
                Assert.Equal("", await response.Content.ReadAsStringAsync());
            }
        }

        using (var byQuery = await Send(HttpMethod.Get, $"api/jobs/{unknown}?code={key}"))
            await AssertProblemAsync(byQuery, HttpStatusCode.NotFound);
        using (var byHeader = await Send(HttpMethod.Get, $"api/jobs/{unknown}", header: key))
            await AssertProblemAsync(byHeader, HttpStatusCode.NotFound);
    }

    [SkippableFact]
    public async Task Function_requests_need_no_key_where_none_is_enforced()
    {
        SkipIfUnavailable();
        Skip.If(host.FunctionKey is not null, $"{host.Name} host: enforces a function key");
        using var response = await host.Anonymous.GetAsync($"api/jobs/{new string('b', 64)}");
        await AssertProblemAsync(response, HttpStatusCode.NotFound);
    }

    [SkippableFact]
    public async Task Fifty_concurrent_jobs_all_succeed()
    {
        SkipIfUnavailable();
        var ids = await Task.WhenAll(Enumerable.Range(0, 50).Select(i =>
            host.SubmitAsync(new { prompt = $"Question {i}: where is Ganymede?", parameters = new { max_new_tokens = 8 } })));
        Assert.Equal(50, ids.Distinct().Count());

        var jobs = await Task.WhenAll(ids.Select(id => host.WaitAsync(id, TimeSpan.FromSeconds(180), TimeSpan.FromSeconds(1))));

        Assert.All(jobs, job => Assert.True(job.GetProperty("status").GetString() == "succeeded", job.GetRawText()));
    }

    [SkippableFact]
    public async Task Delete_cancels_a_long_job_for_good_and_a_finished_job_answers_409()
    {
        SkipIfUnavailable();
        var prompts = Enumerable.Range(0, host.MaxPromptsPerJob).Select(i => $"prompt {i}").ToArray();
        var id = await host.SubmitAsync(new { prompts, parameters = new { min_new_tokens = 512, max_new_tokens = 512, num_beams = 4 } });

        using var cancel = await host.Http.DeleteAsync($"api/jobs/{id}");
        var text = await cancel.Content.ReadAsStringAsync();
        Assert.True(cancel.StatusCode == HttpStatusCode.OK, $"{(int)cancel.StatusCode}: {text}");
        Assert.Equal("cancelled", JsonDocument.Parse(text).RootElement.GetProperty("status").GetString());

        // Whether the worker had it queued or running, it stays cancelled with no results.
        await Task.Delay(TimeSpan.FromSeconds(3));
        using var get = await host.Http.GetAsync($"api/jobs/{id}");
        using var job = JsonDocument.Parse(await get.Content.ReadAsStringAsync());
        Assert.Equal("cancelled", job.RootElement.GetProperty("status").GetString());
        Assert.False(job.RootElement.TryGetProperty("results", out _));
        if (host.StorageConnection is not null) Assert.False((await host.Completions.GetBlobClient($"{id}.json").ExistsAsync()).Value);

        var done = await host.SubmitAsync(new { prompt = Prompt, parameters = new { max_new_tokens = 1 } });
        await host.WaitAsync(done);
        using var late = await host.Http.PostAsync($"api/jobs/{done}/cancel", null);
        var problem = await AssertProblemAsync(late, HttpStatusCode.Conflict);
        Assert.Equal("succeeded", problem.GetProperty("job_status").GetString());
        await AssertProblemAsync(await host.Http.DeleteAsync("api/jobs/no-such-job-here"), HttpStatusCode.NotFound);
    }

    [SkippableFact]
    public async Task List_shows_new_jobs_newest_first_across_pages()
    {
        SkipIfUnavailable();
        var ids = new List<string>();
        for (var i = 0; i < 3; i++) ids.Add(await host.SubmitAsync(new { prompt = $"{Prompt} ({i})", parameters = new { max_new_tokens = 1 } }));

        var seen = new List<string>();
        string? continuation = null;
        for (var page = 0; page < 20 && seen.Count < ids.Count; page++)
        {
            using var response = await host.Http.GetAsync("api/jobs?limit=2" + (continuation is null ? "" : "&continuation=" + Uri.EscapeDataString(continuation)));
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {text}");
            using var body = JsonDocument.Parse(text);
            var jobs = body.RootElement.GetProperty("jobs").EnumerateArray().ToArray();
            Assert.InRange(jobs.Length, 0, 2);
            seen.AddRange(jobs.Select(j => j.GetProperty("id").GetString()!).Where(ids.Contains));
            if (!body.RootElement.TryGetProperty("continuation", out var c)) break;
            continuation = c.GetString();
        }

        Assert.Equal(Enumerable.Reverse(ids), seen);
        await AssertProblemAsync(await host.Http.GetAsync("api/jobs?limit=0"), HttpStatusCode.BadRequest);
    }

    [SkippableFact]
    public async Task Retried_posts_with_one_idempotency_key_make_one_job_and_another_body_is_409()
    {
        SkipIfUnavailable();
        var key = Guid.NewGuid().ToString();
        async Task<(HttpStatusCode Status, string Body)> PostAsync(object spec)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "api/jobs") { Content = HostFixture.Json(spec) };
            request.Headers.Add("Idempotency-Key", key);
            using var response = await host.Http.SendAsync(request);
            return (response.StatusCode, await response.Content.ReadAsStringAsync());
        }
        var spec = new { prompt = Prompt, parameters = new { max_new_tokens = 2 } };

        var replies = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => PostAsync(spec)));

        Assert.Single(replies, r => r.Status == HttpStatusCode.Accepted);
        Assert.All(replies, r => Assert.True(r.Status is HttpStatusCode.Accepted or HttpStatusCode.OK, $"{(int)r.Status}: {r.Body}"));
        Assert.Single(replies.Select(r => JsonDocument.Parse(r.Body).RootElement.GetProperty("id").GetString()).Distinct());
        var other = await PostAsync(new { prompt = "another prompt" });
        Assert.True(other.Status == HttpStatusCode.Conflict, $"{(int)other.Status}: {other.Body}");
    }

    private static async Task<JsonElement> AssertProblemAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"expected {(int)expected}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var document = JsonDocument.Parse(text);
        var problem = document.RootElement.Clone();
        Assert.Equal((int)expected, problem.GetProperty("status").GetInt32());
        foreach (var member in new[] { "type", "title", "detail" })
            Assert.False(string.IsNullOrWhiteSpace(problem.GetProperty(member).GetString()), member);
        return problem;
    }

    private static string[] Errors(JsonElement problem) =>
        problem.GetProperty("errors").EnumerateObject().Select(p => p.Name).ToArray();
}
