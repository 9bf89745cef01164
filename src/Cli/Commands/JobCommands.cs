using System.CommandLine;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Azure.Storage.Queues;
using Serverless.ModelStore;

namespace Serverless.Cli.Commands;

/// <summary>
/// <c>serverless jobs submit|enqueue|status|wait|bench</c>: the client side of the job pipeline, against a running host
/// (<c>func start</c>, the local host, or Azure) or straight into the queue.
/// </summary>
public static class JobCommands
{
    public const string DefaultUrl = "http://127.0.0.1:7071";
    public const string DefaultQueue = "prompt-jobs";

    internal static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Runs a command body; the errors a user can act on print one line (see <see cref="CommandGuard"/>).</summary>
    internal static Task<int> Guard(Func<Task<int>> body) => CommandGuard.RunAsync(body);

    public static Command Create()
    {
        var jobs = new Command("jobs", "Submit prompt jobs to a running host, drop them into the queue, follow them.");
        jobs.Subcommands.Add(Submit());
        jobs.Subcommands.Add(Enqueue());
        jobs.Subcommands.Add(Status());
        jobs.Subcommands.Add(Wait());
        jobs.Subcommands.Add(List());
        jobs.Subcommands.Add(Cancel());
        jobs.Subcommands.Add(JobBench.Create());
        return jobs;
    }

    internal static Option<string> UrlOption() => new("--url")
    {
        Description = "The host's root URL (the /api prefix is added).",
        DefaultValueFactory = _ => DefaultUrl,
    };

    // No DefaultValueFactory: help would print the key as "[default: …]". The default is resolved when the command runs.
    internal static Option<string?> KeyOption() => new("--key")
    {
        Description = "Function key, sent as x-functions-key (needed on Azure; ignored locally). [default: $SERVERLESS_FUNCTION_KEY]",
    };

    internal static Option<int> TimeoutOption(int seconds) => new("--timeout")
    {
        Description = "Seconds to wait for the job to finish.",
        DefaultValueFactory = _ => seconds,
    };

    internal static JobClient Client(ParseResult parse, Option<string> url, Option<string?> key)
    {
        var text = parse.GetValue(url)!;
        if (!Uri.TryCreate(text, UriKind.Absolute, out var baseUrl) || baseUrl.Scheme is not ("http" or "https"))
            throw new ArgumentException($"--url '{text}' is not an http(s) URL, e.g. {DefaultUrl}.");
        return new(baseUrl, parse.GetValue(key) ?? Environment.GetEnvironmentVariable("SERVERLESS_FUNCTION_KEY"));
    }

    /// <summary>
    /// The <c>--connection</c> option of commands that reach storage. Its default is resolved when the command runs
    /// (<see cref="ResolveConnection"/>), not shown by value: <c>AzureWebJobsStorage</c> may hold an account key, and
    /// help prints a default value as it is.
    /// </summary>
    internal static Option<string?> ConnectionOption(string description) => new("--connection")
    {
        Description = description + " [default: $AzureWebJobsStorage, else UseDevelopmentStorage=true (Azurite)]",
    };

    internal static string ResolveConnection(ParseResult parse, Option<string?> connection) =>
        parse.GetValue(connection) is { Length: > 0 } given ? given : DefaultConnection();

    private static Command Submit()
    {
        var prompt = new Option<string?>("--prompt") { Description = "The prompt text." };
        var file = new Option<FileInfo?>("--file") { Description = "A prompt file: plain text (the prompt), or a JSON job spec ({\"prompt\"|\"prompts\", \"parameters\"})." };
        var parameters = GenerationParameterOptions.ParamOption();
        var url = UrlOption();
        var key = KeyOption();
        var wait = new Option<bool>("--wait") { Description = "Wait for the job and print its completion." };
        var timeout = TimeoutOption(300);
        var stream = new Option<bool>("--stream") { Description = "Run it now over POST /api/completions (a few prompts, small limits) and print the tokens as they come." };
        var callback = new Option<string?>("--callback-url")
        {
            Description = "An https URL that receives one signed POST of the job's final status (the job's callback_url; any URL when the host runs in Development).",
        };
        var command = new Command("submit", "Submit a job over HTTP (POST /api/jobs) and print its id.") { prompt, file, parameters, url, key, wait, timeout, stream, callback };
        command.Validators.Add(result =>
        {
            var hasPrompt = result.GetValue(prompt) is not null;
            var hasFile = result.GetValue(file) is not null;
            if (hasPrompt == hasFile) result.AddError("Give exactly one of --prompt TEXT or --file FILE.");
            if (result.GetValue(stream) && result.GetValue(wait)) result.AddError("--stream already waits; leave out --wait.");
            if (result.GetValue(stream) && result.GetValue(callback) is not null) result.AddError("--callback-url is for queued jobs; a --stream completion has no callback.");
        });
        command.SetAction((parse, ct) => Guard(async () =>
        {
            var spec = await BuildSpecAsync(parse.GetValue(prompt), parse.GetValue(file), parse.GetValue(parameters) ?? [], ct, parse.GetValue(callback));
            using var client = Client(parse, url, key);
            if (parse.GetValue(stream))
            {
                var current = 0;
                var finals = await client.StreamCompletionAsync(spec, (index, text) =>
                {
                    if (index != current) { Console.Out.WriteLine(); current = index; }
                    Console.Out.Write(text);
                    Console.Out.Flush();
                }, ct);
                Console.Out.WriteLine();
                foreach (var f in finals)
                {
                    Console.Error.WriteLine($"[{f.GetProperty("index").GetInt32()}] {f.GetProperty("finish_reason").GetString()}, " +
                        $"{f.GetProperty("input_tokens").GetInt32()} in / {f.GetProperty("output_tokens").GetInt32()} out, {f.GetProperty("total_ms").GetDouble():F0} ms");
                }

                return 0;
            }
            var accepted = await client.SubmitAsync(spec, ct);
            var id = accepted.GetProperty("id").GetString()!;
            Console.WriteLine($"submitted job {id}");
            if (!parse.GetValue(wait)) return 0;
            var final = await client.WaitAsync(id, TimeSpan.FromSeconds(parse.GetValue(timeout)), TimeSpan.FromMilliseconds(500), ct);
            return PrintCompletion(final, Console.Out);
        }));
        return command;
    }

    private static Command Enqueue()
    {
        var files = new Argument<FileInfo[]>("FILE") { Description = "Prompt files, each sent as one plain-text message (a prompt, or a JSON job spec).", Arity = ArgumentArity.OneOrMore };
        var queue = new Option<string>("--queue") { Description = "The jobs queue.", DefaultValueFactory = _ => DefaultQueue };
        var connection = ConnectionOption("Storage connection string, or a queue service URI (https://<account>.queue.core.windows.net: then " +
            "your Azure sign-in is used, as the deployed account accepts no keys).");
        var command = new Command("enqueue", "Drop prompt files into the queue as plain-text messages; prints each message id (= job id).") { files, queue, connection };
        command.SetAction((parse, ct) => Guard(async () =>
        {
            var client = QueueFor(ResolveConnection(parse, connection), parse.GetValue(queue)!);
            foreach (var f in parse.GetValue(files)!)
            {
                var text = await File.ReadAllTextAsync(f.FullName, ct);
                var id = await JobClient.EnqueueAsync(client, text, ct);
                Console.WriteLine($"{id}\t{f.Name}");
            }
            // A queued message has no record until a worker picks it up; `jobs wait` says "not found" at once without this.
            Console.Error.WriteLine("follow a job with: serverless jobs wait ID --queued-grace 60");
            return 0;
        }));
        return command;
    }

    private static Command Status()
    {
        var id = new Argument<string>("ID") { Description = "The job id." };
        var url = UrlOption();
        var key = KeyOption();
        var command = new Command("status", "Print a job's status record (GET /api/jobs/{id}) as JSON.") { id, url, key };
        command.SetAction((parse, ct) => Guard(async () =>
        {
            using var client = Client(parse, url, key);
            var status = await client.GetAsync(parse.GetValue(id)!, ct);
            Console.WriteLine(JsonSerializer.Serialize(status, Indented));
            return 0;
        }));
        return command;
    }

    private static Command Wait()
    {
        var id = new Argument<string>("ID") { Description = "The job id." };
        var url = UrlOption();
        var key = KeyOption();
        var timeout = TimeoutOption(300);
        var queuedGrace = new Option<int>("--queued-grace")
        {
            Description = "Seconds to keep polling while the job has no record yet (a message just dropped into the queue gets one " +
                          "when a worker picks it up). 0: an unknown id is reported at once.",
            DefaultValueFactory = _ => 0,
        };
        var command = new Command("wait", "Poll a job until it has finished; print its completion with token counts and timings.") { id, url, key, timeout, queuedGrace };
        command.Validators.Add(r => { if (r.GetValue(queuedGrace) < 0) r.AddError("--queued-grace must be 0 or more seconds."); });
        command.SetAction((parse, ct) => Guard(async () =>
        {
            using var client = Client(parse, url, key);
            var final = await client.WaitAsync(parse.GetValue(id)!, TimeSpan.FromSeconds(parse.GetValue(timeout)), TimeSpan.FromMilliseconds(500), ct,
                TimeSpan.FromSeconds(parse.GetValue(queuedGrace)));
            return PrintCompletion(final, Console.Out);
        }));
        return command;
    }

    private static Command List()
    {
        var status = new Option<string?>("--status") { Description = "Only jobs in this status: queued, running, succeeded, failed, cancelled." };
        var limit = new Option<int>("--limit") { Description = "Jobs per page (1-200).", DefaultValueFactory = _ => 50 };
        var all = new Option<bool>("--all") { Description = "Follow the continuation through every page." };
        var url = UrlOption();
        var key = KeyOption();
        var command = new Command("list", "List jobs, newest first (GET /api/jobs): id, status, created, completed, prompt count.") { status, limit, all, url, key };
        command.SetAction((parse, ct) => Guard(async () =>
        {
            using var client = Client(parse, url, key);
            string? continuation = null;
            do
            {
                var page = await client.ListAsync(parse.GetValue(status), parse.GetValue(limit), continuation, ct);
                foreach (var job in page.GetProperty("jobs").EnumerateArray())
                {
                    Console.WriteLine(string.Join('\t', Str(job, "id"), Str(job, "status"), Str(job, "created_at"),
                        job.TryGetProperty("completed_at", out _) ? Str(job, "completed_at") : "-", Num(job, "prompt_count")));
                }

                continuation = page.TryGetProperty("continuation", out var c) ? c.GetString() : null;
            } while (continuation is not null && parse.GetValue(all));
            if (continuation is not null) Console.Error.WriteLine("more: pass --all to follow every page");
            return 0;
        }));
        return command;
    }

    private static Command Cancel()
    {
        var id = new Argument<string>("ID") { Description = "The job id." };
        var url = UrlOption();
        var key = KeyOption();
        var command = new Command("cancel", "Cancel a job (DELETE /api/jobs/{id}); a finished job cannot be cancelled (exit 1).") { id, url, key };
        command.SetAction((parse, ct) => Guard(async () =>
        {
            using var client = Client(parse, url, key);
            var job = await client.CancelAsync(parse.GetValue(id)!, ct);
            Console.WriteLine($"job {Str(job, "id")} {Str(job, "status")}");
            return 0;
        }));
        return command;
    }

    /// <summary>
    /// The jobs queue from a connection string, or from a queue service URI with <see cref="Azure.Identity.DefaultAzureCredential"/>
    /// (identity-based, as the app itself connects): <see cref="StorageConnection.FromArgument"/>, as for the model commands.
    /// </summary>
    public static QueueClient QueueFor(string connection, string queue) =>
        StorageConnection.FromArgument(connection).CreateQueueServiceClient(StorageRetry.CommandLine).GetQueueClient(queue);

    internal static string DefaultConnection() =>
        Environment.GetEnvironmentVariable("AzureWebJobsStorage") is { Length: > 0 } s ? s : "UseDevelopmentStorage=true";

    /// <summary>The request body: a prompt (or a file's text), or a JSON spec file as is; <c>--param</c> values merged
    /// into <c>parameters</c>. A value is read as JSON when it parses (numbers, booleans, arrays), else as a string.
    /// <paramref name="callbackUrl"/>, when given, is the spec's <c>callback_url</c> (the host validates it).</summary>
    public static async Task<JsonObject> BuildSpecAsync(string? prompt, FileInfo? file, IEnumerable<string> parameters, CancellationToken cancellationToken,
        string? callbackUrl = null)
    {
        JsonObject spec;
        if (file is not null)
        {
            var text = await File.ReadAllTextAsync(file.FullName, cancellationToken);
            spec = TryParseObject(text) ?? new JsonObject { ["prompt"] = text };
        }
        else
        {
            spec = new JsonObject { ["prompt"] = prompt };
        }

        foreach (var p in parameters)
        {
            var (name, value) = GenerationParameterOptions.ParseAssignment(p);
            if (spec["parameters"] is not JsonObject target) spec["parameters"] = target = new JsonObject();
            target[name] = JsonNode.Parse(value.GetRawText());
        }
        if (callbackUrl is not null) spec["callback_url"] = callbackUrl;
        return spec;
    }

    private static JsonObject? TryParseObject(string text)
    {
        if (!text.TrimStart().StartsWith('{')) return null;
        try { return JsonNode.Parse(text) as JsonObject; }
        catch (JsonException) { return null; }
    }

    /// <summary>Prints a finished job: each prompt's completion with its token counts and timings, or the failure.
    /// Returns the exit code (0 succeeded, 1 failed).</summary>
    public static int PrintCompletion(JsonElement job, TextWriter output)
    {
        var id = Str(job, "id");
        var status = Str(job, "status");
        if (status != "succeeded")
        {
            var error = job.TryGetProperty("error", out var e) ? $"{Str(e, "code")}: {Str(e, "message")}" : "(no error recorded)";
            output.WriteLine($"job {id} {status}: {error}");
            return 1;
        }
        output.WriteLine($"job {id} succeeded after {Num(job, "attempts")} attempt(s)");
        if (job.TryGetProperty("results", out var results))
        {
            foreach (var r in results.EnumerateArray())
            {
                output.WriteLine($"--- prompt {Num(r, "index")} ---");
                output.WriteLine(Str(r, "completion"));
                output.WriteLine($"tokens: {Num(r, "input_tokens")} in, {Num(r, "output_tokens")} out (finish: {Str(r, "finish_reason")}, context window {Num(r, "context_window")})");
                output.WriteLine($"timings: tokenize {Num(r, "tokenize_ms")} ms, encode {Num(r, "encode_ms")} ms, first token {Num(r, "first_token_ms")} ms, total {Num(r, "total_ms")} ms, {Num(r, "tokens_per_second")} tokens/s");
            }
        }
        if (job.TryGetProperty("usage", out var usage))
        {
            output.WriteLine($"job total: {Num(usage, "input_tokens")} tokens in, {Num(usage, "output_tokens")} out, {Num(usage, "duration_ms")} ms");
        }
        if (job.TryGetProperty("created_at", out var created) && job.TryGetProperty("completed_at", out var completed))
        {
            var latency = completed.GetDateTimeOffset() - created.GetDateTimeOffset();
            output.WriteLine($"queued → done: {latency.TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture)} ms");
        }
        return 0;
    }

    private static string Str(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "?";

    private static string Num(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetRawText() : "?";
}
