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

    internal static Option<int> TimeoutOption(int seconds)
    {
        var option = new Option<int>("--timeout")
        {
            Description = "Seconds to wait for the job to finish.",
            DefaultValueFactory = _ => seconds,
        };
        option.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 1) r.AddError($"--timeout must be at least 1 second; got {r.GetValueOrDefault<int>()}."); });
        return option;
    }

    internal static Option<bool> JsonOption(string what) => new("--json") { Description = $"Print {what} as JSON instead of text." };

    /// <summary>A prompt file the parser checks before anything is sent: it exists and is a file, not a folder.</summary>
    internal static void RequireFiles(System.CommandLine.Parsing.SymbolResult result, IEnumerable<FileInfo> files, string name)
    {
        foreach (var f in files)
        {
            if (Directory.Exists(f.FullName)) result.AddError($"{name} '{f}' is a directory; give a prompt file (plain text or a JSON job spec).");
            else if (!File.Exists(f.FullName)) result.AddError($"{name} '{f}' does not exist.");
        }
    }

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
        file.Validators.Add(r => { if (r.GetValueOrDefault<FileInfo?>() is { } f) RequireFiles(r, [f], "--file"); });
        var parameters = GenerationParameterOptions.ParamOption();
        var url = UrlOption();
        var key = KeyOption();
        var wait = new Option<bool>("--wait") { Description = "Wait for the job and print its completion (progress on stderr)." };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Print only the job id (and no progress)." };
        var json = JsonOption("the accepted job (with --wait: the finished job's record)");
        var timeout = TimeoutOption(300);
        var stream = new Option<bool>("--stream") { Description = "Run it now over POST /api/completions (a few prompts, small limits) and print the tokens as they come." };
        var callback = new Option<string?>("--callback-url")
        {
            Description = "An https URL that receives one signed POST of the job's final status (the job's callback_url; any URL when the host runs in Development).",
        };
        var command = new Command("submit", "Submit a job over HTTP (POST /api/jobs) and print its id.") { prompt, file, parameters, url, key, wait, quiet, json, timeout, stream, callback };
        command.Validators.Add(result =>
        {
            var hasPrompt = result.GetValue(prompt) is not null;
            var hasFile = result.GetValue(file) is not null;
            if (hasPrompt == hasFile) result.AddError("Give exactly one of --prompt TEXT or --file FILE.");
            if (result.GetValue(stream) && result.GetValue(wait)) result.AddError("--stream already waits; leave out --wait.");
            if (result.GetValue(stream) && result.GetValue(callback) is not null) result.AddError("--callback-url is for queued jobs; a --stream completion has no callback.");
            if (result.GetValue(stream) && (result.GetValue(json) || result.GetValue(quiet))) result.AddError("--stream prints the tokens; leave out --json and --quiet.");
            if (result.GetValue(json) && result.GetValue(quiet)) result.AddError("Give one of --json and --quiet.");
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
            if (!parse.GetValue(wait))
            {
                Console.WriteLine(parse.GetValue(json) ? JsonSerializer.Serialize(accepted, Indented) : parse.GetValue(quiet) ? id : $"submitted job {id}");
                return 0;
            }
            if (!parse.GetValue(json)) Console.WriteLine(parse.GetValue(quiet) ? id : $"submitted job {id}");
            var progress = parse.GetValue(quiet) ? null : new JobProgressLine(Console.Error);
            var final = await client.WaitAsync(id, TimeSpan.FromSeconds(parse.GetValue(timeout)), TimeSpan.FromMilliseconds(500), ct, onPoll: progress is null ? null : progress.Report);
            progress?.Finish();
            return parse.GetValue(json) ? PrintJson(final) : PrintCompletion(final, Console.Out);
        }));
        return command;
    }

    private static Command Enqueue()
    {
        var files = new Argument<FileInfo[]>("FILE") { Description = "Prompt files, each sent as one plain-text message (a prompt, or a JSON job spec).", Arity = ArgumentArity.OneOrMore };
        files.Validators.Add(r => RequireFiles(r, r.GetValueOrDefault<FileInfo[]>() ?? [], "FILE"));
        var queue = new Option<string>("--queue") { Description = "The jobs queue.", DefaultValueFactory = _ => DefaultQueue };
        var connection = ConnectionOption("Storage connection string, or a queue service URI (https://<account>.queue.core.windows.net: then " +
            "your Azure sign-in is used, as the deployed account accepts no keys).");
        var command = new Command("enqueue", "Drop prompt files into the queue as plain-text messages; prints each message id (= job id).") { files, queue, connection };
        command.SetAction((parse, ct) => Guard(async () =>
        {
            // Every file is read and checked before the first message goes out: a broken spec sends nothing.
            var messages = new List<(FileInfo File, string Text)>();
            foreach (var f in parse.GetValue(files)!)
            {
                var text = await File.ReadAllTextAsync(f.FullName, ct);
                CheckSpec(f, text);
                messages.Add((f, text));
            }
            var client = QueueFor(ResolveConnection(parse, connection), parse.GetValue(queue)!);
            foreach (var (f, text) in messages)
            {
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
        var json = JsonOption("the status record");
        var command = new Command("status", "Print a job's status (GET /api/jobs/{id}): status, times, progress or error; --json for the whole record.") { id, url, key, json };
        command.SetAction((parse, ct) => Guard(async () =>
        {
            using var client = Client(parse, url, key);
            var status = await client.GetAsync(parse.GetValue(id)!, ct);
            if (parse.GetValue(json)) return PrintJson(status, exitCode: 0);
            PrintStatus(status, Console.Out);
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
        var json = JsonOption("the finished job's record");
        var command = new Command("wait", "Poll a job until it has finished (progress on stderr); print its completion with token counts and timings.") { id, url, key, timeout, queuedGrace, json };
        command.Validators.Add(r => { if (r.GetValue(queuedGrace) < 0) r.AddError("--queued-grace must be 0 or more seconds."); });
        command.SetAction((parse, ct) => Guard(async () =>
        {
            using var client = Client(parse, url, key);
            var progress = new JobProgressLine(Console.Error);
            var final = await client.WaitAsync(parse.GetValue(id)!, TimeSpan.FromSeconds(parse.GetValue(timeout)), TimeSpan.FromMilliseconds(500), ct,
                TimeSpan.FromSeconds(parse.GetValue(queuedGrace)), onPoll: progress.Report);
            progress.Finish();
            return parse.GetValue(json) ? PrintJson(final) : PrintCompletion(final, Console.Out);
        }));
        return command;
    }

    private static Command List()
    {
        var status = new Option<string?>("--status") { Description = "Only jobs in this status." };
        status.AcceptOnlyFromAmong("queued", "running", "succeeded", "failed", "cancelled");
        var limit = new Option<int>("--limit") { Description = "Jobs per page (1-200).", DefaultValueFactory = _ => 50 };
        limit.Validators.Add(r => { if (r.GetValueOrDefault<int>() is var n && n is < 1 or > 200) r.AddError($"--limit must be between 1 and 200; got {n}."); });
        var json = JsonOption("{\"jobs\": [...], \"continuation\"?} (every page's jobs with --all)");
        var all = new Option<bool>("--all") { Description = "Follow the continuation through every page." };
        var url = UrlOption();
        var key = KeyOption();
        var command = new Command("list", "List jobs, newest first (GET /api/jobs): id, status, created, completed, prompt count.") { status, limit, all, url, key, json };
        command.SetAction((parse, ct) => Guard(async () =>
        {
            using var client = Client(parse, url, key);
            string? continuation = null;
            var jobs = new List<JsonElement>();
            do
            {
                var page = await client.ListAsync(parse.GetValue(status), parse.GetValue(limit), continuation, ct);
                jobs.AddRange(page.GetProperty("jobs").EnumerateArray());
                continuation = page.TryGetProperty("continuation", out var c) ? c.GetString() : null;
            } while (continuation is not null && parse.GetValue(all));
            if (parse.GetValue(json))
            {
                var body = new JsonObject { ["jobs"] = new JsonArray([.. jobs.Select(j => JsonNode.Parse(j.GetRawText()))]) };
                if (continuation is not null) body["continuation"] = continuation;
                Console.WriteLine(body.ToJsonString(Indented));
                return 0;
            }
            const string row = "{0,-36}  {1,-9}  {2,-20}  {3,-20}  {4,7}";
            Console.WriteLine(string.Format(CultureInfo.InvariantCulture, row, "ID", "STATUS", "CREATED (UTC)", "COMPLETED (UTC)", "PROMPTS"));
            foreach (var job in jobs)
            {
                Console.WriteLine(string.Format(CultureInfo.InvariantCulture, row, Str(job, "id"), Str(job, "status"), Time(job, "created_at"),
                    job.TryGetProperty("completed_at", out _) ? Time(job, "completed_at") : "-", Num(job, "prompt_count")));
            }
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
            spec = CheckSpec(file, text) ?? new JsonObject { ["prompt"] = text };
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

    /// <summary>
    /// The rule the host applies to a message: text whose first non-blank character is <c>{</c> is a JSON job spec and
    /// must parse as one; any other text is a prompt (braces further in are just text). A <c>.json</c> file is meant as
    /// a spec whatever it starts with. Returns the spec, or null for a prompt.
    /// </summary>
    /// <exception cref="ArgumentException">The file is meant as a spec and does not parse: the message names the parse error.</exception>
    internal static JsonObject? CheckSpec(FileInfo file, string text)
    {
        var meantAsSpec = text.TrimStart().StartsWith('{') || file.Extension.Equals(".json", StringComparison.OrdinalIgnoreCase);
        if (!meantAsSpec) return null;
        try
        {
            return JsonNode.Parse(text) as JsonObject
                ?? throw new ArgumentException($"'{file}' is not a JSON job spec: it holds JSON but not an object ({{\"prompt\": …}} or {{\"prompts\": […]}}).");
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"'{file}' is not valid JSON ({e.Message}); fix the job spec, or give the prompt as plain text that does not start with '{{'.");
        }
    }

    /// <summary>Prints a finished job: each prompt's completion with its token counts and timings, or the failure.
    /// Returns the exit code (0 succeeded, 1 failed).</summary>
    public static int PrintCompletion(JsonElement job, TextWriter output)
    {
        var id = Str(job, "id");
        var status = Str(job, "status");
        if (status != "succeeded")
        {
            // A cancelled job's code is "cancelled" and its message says so: the line names the status once.
            output.WriteLine(ErrorCode(job) == status ? $"job {id}: {Reason(job, status)}" : $"job {id} {status}: {Reason(job, status)}");
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

    private static string? ErrorCode(JsonElement job) =>
        job.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.Object ? Str(e, "code") : null;

    /// <summary>Why a job did not succeed, without repeating its status: a <c>cancelled</c> job's code is <c>cancelled</c>.</summary>
    private static string Reason(JsonElement job, string status)
    {
        if (!job.TryGetProperty("error", out var e) || e.ValueKind != JsonValueKind.Object) return "(no error recorded)";
        var (code, message) = (Str(e, "code"), Str(e, "message"));
        return code == status || code == "?" ? message : $"{code}: {message}";
    }

    private static int PrintJson(JsonElement job, int? exitCode = null)
    {
        Console.WriteLine(JsonSerializer.Serialize(job, Indented));
        return exitCode ?? (Str(job, "status") == "succeeded" ? 0 : 1);
    }

    /// <summary>The status record as a few aligned lines: what a person looks for first.</summary>
    internal static void PrintStatus(JsonElement job, TextWriter output)
    {
        var status = Str(job, "status");
        output.WriteLine($"job        {Str(job, "id")}");
        output.WriteLine($"status     {status}");
        output.WriteLine($"prompts    {Num(job, "prompt_count")}");
        output.WriteLine($"created    {Time(job, "created_at")}");
        if (job.TryGetProperty("started_at", out _)) output.WriteLine($"started    {Time(job, "started_at")}");
        if (job.TryGetProperty("completed_at", out _)) output.WriteLine($"completed  {Time(job, "completed_at")}");
        if (job.TryGetProperty("attempts", out _)) output.WriteLine($"attempts   {Num(job, "attempts")}");
        if (JobProgressLine.Describe(job) is { } progress && status is "running") output.WriteLine($"progress   {progress}");
        if (job.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object)
            output.WriteLine($"tokens     {Num(usage, "input_tokens")} in, {Num(usage, "output_tokens")} out");
        if (status is "failed" or "cancelled") output.WriteLine($"reason     {Reason(job, status)}");
        if (status == "succeeded") output.WriteLine($"results    serverless jobs wait {Str(job, "id")} (or --json for the record)");
    }

    /// <summary>A timestamp as <c>yyyy-MM-dd HH:mm:ss</c> UTC, "?" when absent.</summary>
    private static string Time(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String && v.TryGetDateTimeOffset(out var t)
            ? t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)
            : "?";

    internal static string Str(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "?";

    internal static string Num(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetRawText() : "?";
}
