using System.CommandLine;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Serverless.Cli.Commands;

/// <summary>
/// <c>serverless batch submit|status|list|cancel|download</c>: OpenAI's Files and Batches API of a running host
/// (<c>/api/v1/files</c>, <c>/api/v1/batches</c>; docs/batches.md).
/// </summary>
public static class BatchCommands
{
    public static Command Create()
    {
        var batch = new Command("batch", "Run a JSONL file of OpenAI requests as a batch (OpenAI's Batch API) and fetch its output and error files.");
        batch.Subcommands.Add(Submit());
        batch.Subcommands.Add(Status());
        batch.Subcommands.Add(List());
        batch.Subcommands.Add(Cancel());
        batch.Subcommands.Add(Download());
        return batch;
    }

    private static Argument<string> IdArgument() => new("ID") { Description = "The batch id (batch_…)." };

    private static Option<DirectoryInfo> OutputOption() => new("--output")
    {
        Description = "Folder for ID_output.jsonl and ID_error.jsonl.",
        DefaultValueFactory = _ => new DirectoryInfo("."),
    };

    private static Command Submit()
    {
        var file = new Argument<FileInfo>("FILE") { Description = "A JSONL file: one {\"custom_id\", \"method\": \"POST\", \"url\", \"body\"} per line." };
        var endpoint = new Option<string>("--endpoint") { Description = "/v1/completions or /v1/chat/completions.", DefaultValueFactory = _ => "/v1/completions" };
        var wait = new Option<bool>("--wait") { Description = "Wait for the batch (progress on stderr) and download its output and error files." };
        var output = OutputOption();
        var url = JobCommands.UrlOption();
        var key = JobCommands.KeyOption();
        var command = new Command("submit", "Upload FILE (POST /v1/files), create a batch over it (POST /v1/batches) and print its id.") { file, endpoint, wait, output, url, key };
        command.SetAction((parse, ct) => JobCommands.Guard(async () =>
        {
            using var client = BatchHttp(parse, url, key);
            var path = parse.GetValue(file)!;
            using var form = new MultipartFormDataContent();
            form.Add(new StringContent("batch"), "purpose");
            var content = new StreamContent(path.OpenRead());
            content.Headers.ContentType = new MediaTypeHeaderValue("application/jsonl");
            form.Add(content, "file", path.Name);
            var uploaded = await SendAsync(client, HttpMethod.Post, "v1/files", form, ct);
            var created = await SendAsync(client, HttpMethod.Post, "v1/batches", Json(new
            {
                input_file_id = uploaded.GetProperty("id").GetString(),
                endpoint = parse.GetValue(endpoint),
                completion_window = "24h",
            }), ct);
            var id = created.GetProperty("id").GetString()!;
            Console.WriteLine(id);
            if (!parse.GetValue(wait)) return 0;
            var final = await WaitAsync(client, id, ct);
            return await DownloadAsync(client, final, parse.GetValue(output)!, ct);
        }));
        return command;
    }

    private static Command Status()
    {
        var id = IdArgument();
        var url = JobCommands.UrlOption();
        var key = JobCommands.KeyOption();
        var command = new Command("status", "Print a batch object (GET /v1/batches/ID).") { id, url, key };
        command.SetAction((parse, ct) => JobCommands.Guard(async () =>
        {
            using var client = BatchHttp(parse, url, key);
            Console.WriteLine(JsonSerializer.Serialize(await SendAsync(client, HttpMethod.Get, $"v1/batches/{Uri.EscapeDataString(parse.GetValue(id)!)}", null, ct), JobCommands.Indented));
            return 0;
        }));
        return command;
    }

    private static Command List()
    {
        var limit = new Option<int>("--limit") { Description = "Most batches to list.", DefaultValueFactory = _ => 20 };
        var url = JobCommands.UrlOption();
        var key = JobCommands.KeyOption();
        var command = new Command("list", "List batches, newest first: id, status, completed/failed/total.") { limit, url, key };
        command.SetAction((parse, ct) => JobCommands.Guard(async () =>
        {
            using var client = BatchHttp(parse, url, key);
            var page = await SendAsync(client, HttpMethod.Get, $"v1/batches?limit={parse.GetValue(limit)}", null, ct);
            foreach (var b in page.GetProperty("data").EnumerateArray())
            {
                var counts = b.GetProperty("request_counts");
                Console.WriteLine($"{b.GetProperty("id").GetString()}\t{b.GetProperty("status").GetString()}\t" +
                    $"{counts.GetProperty("completed").GetInt32()}/{counts.GetProperty("failed").GetInt32()}/{counts.GetProperty("total").GetInt32()}");
            }
            return 0;
        }));
        return command;
    }

    private static Command Cancel()
    {
        var id = IdArgument();
        var url = JobCommands.UrlOption();
        var key = JobCommands.KeyOption();
        var command = new Command("cancel", "Cancel a batch (POST /v1/batches/ID/cancel): lines already answered stay in its output file.") { id, url, key };
        command.SetAction((parse, ct) => JobCommands.Guard(async () =>
        {
            using var client = BatchHttp(parse, url, key);
            var batch = await SendAsync(client, HttpMethod.Post, $"v1/batches/{Uri.EscapeDataString(parse.GetValue(id)!)}/cancel", null, ct);
            Console.WriteLine(batch.GetProperty("status").GetString());
            return 0;
        }));
        return command;
    }

    private static Command Download()
    {
        var id = IdArgument();
        var output = OutputOption();
        var url = JobCommands.UrlOption();
        var key = JobCommands.KeyOption();
        var command = new Command("download", "Download a finished batch's output and error files.") { id, output, url, key };
        command.SetAction((parse, ct) => JobCommands.Guard(async () =>
        {
            using var client = BatchHttp(parse, url, key);
            var batch = await SendAsync(client, HttpMethod.Get, $"v1/batches/{Uri.EscapeDataString(parse.GetValue(id)!)}", null, ct);
            return await DownloadAsync(client, batch, parse.GetValue(output)!, ct);
        }));
        return command;
    }

    private static HttpClient BatchHttp(ParseResult parse, Option<string> url, Option<string?> key)
    {
        var text = parse.GetValue(url)!;
        if (!Uri.TryCreate(text, UriKind.Absolute, out var baseUrl) || baseUrl.Scheme is not ("http" or "https"))
            throw new ArgumentException($"--url '{text}' is not an http(s) URL, e.g. {JobCommands.DefaultUrl}.");
        var http = new HttpClient { BaseAddress = new Uri(baseUrl, "api/"), Timeout = TimeSpan.FromMinutes(10) };
        if ((parse.GetValue(key) ?? Environment.GetEnvironmentVariable("SERVERLESS_FUNCTION_KEY")) is { Length: > 0 } k) http.DefaultRequestHeaders.Add("x-functions-key", k);
        // The /v1 routes check the app's OpenAI key (OpenAi__ApiKey), sent as the SDKs send it.
        if (Environment.GetEnvironmentVariable("SERVERLESS_OPENAI_KEY") is { Length: > 0 } openAiKey)
            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", openAiKey);
        return http;
    }

    private static StringContent Json(object value) => new(JsonSerializer.Serialize(value), Encoding.UTF8, "application/json");

    private static async Task<JsonElement> SendAsync(HttpClient client, HttpMethod method, string path, HttpContent? content, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        using var response = await client.SendAsync(request, ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        if (!response.IsSuccessStatusCode)
        {
            var message = text;
            try
            {
                message = JsonDocument.Parse(text).RootElement.GetProperty("error").GetProperty("message").GetString() ?? text;
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
            {
            }
            throw new JobClientException((int)response.StatusCode, $"{method} {path}: {(int)response.StatusCode} {message}");
        }
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    /// <summary>Polls until the batch ends, drawing its progress on stderr.</summary>
    private static async Task<JsonElement> WaitAsync(HttpClient client, string id, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var batch = await SendAsync(client, HttpMethod.Get, $"v1/batches/{id}", null, ct);
            var status = batch.GetProperty("status").GetString();
            var counts = batch.GetProperty("request_counts");
            int total = counts.GetProperty("total").GetInt32(), done = counts.GetProperty("completed").GetInt32() + counts.GetProperty("failed").GetInt32();
            const int width = 30;
            var filled = total == 0 ? 0 : width * done / total;
            Console.Error.Write($"\r[{new string('#', filled)}{new string('.', width - filled)}] {done}/{total} {status,-11} {clock.Elapsed:hh\\:mm\\:ss}");
            if (status is "completed" or "failed" or "cancelled" or "expired")
            {
                Console.Error.WriteLine();
                return batch;
            }
            await Task.Delay(TimeSpan.FromSeconds(1), ct);
        }
    }

    private static async Task<int> DownloadAsync(HttpClient client, JsonElement batch, DirectoryInfo folder, CancellationToken ct)
    {
        var id = batch.GetProperty("id").GetString()!;
        folder.Create();
        foreach (var (field, suffix) in new[] { ("output_file_id", "output"), ("error_file_id", "error") })
        {
            if (batch.TryGetProperty(field, out var fileId) && fileId.ValueKind == JsonValueKind.String)
            {
                var path = Path.Combine(folder.FullName, $"{id}_{suffix}.jsonl");
                await using var stream = await client.GetStreamAsync($"v1/files/{fileId.GetString()}/content", ct);
                await using var file = File.Create(path);
                await stream.CopyToAsync(file, ct);
                Console.Error.WriteLine($"{suffix}: {path}");
            }
        }
        var status = batch.GetProperty("status").GetString();
        if (status == "failed" && batch.TryGetProperty("errors", out var errors) && errors.ValueKind == JsonValueKind.Object)
        {
            foreach (var e in errors.GetProperty("data").EnumerateArray())
                CliExit.WriteError($"line {(e.TryGetProperty("line", out var l) && l.ValueKind == JsonValueKind.Number ? l.GetInt32().ToString(System.Globalization.CultureInfo.InvariantCulture) : "-")}: {e.GetProperty("message").GetString()}");
        }
        return status == "completed" ? CliExit.Success : CliExit.Failure;
    }
}
