using Serverless.EndToEnd.Tests.Infrastructure;

namespace Serverless.EndToEnd.Tests.Hosts;

/// <summary>
/// A host that is already running, e.g. a deployed app, given by the environment:
/// <c>E2E_BASE_URL</c> (e.g. https://app.azurewebsites.net/), <c>E2E_FUNCTION_KEY</c> (none = keys not enforced),
/// <c>E2E_STORAGE_CONNECTION</c> (a connection string of its storage, for the queue drops and outputs: without it those
/// tests are skipped), and optionally
/// <c>E2E_QUEUE</c>, <c>E2E_COMPLETIONS_CONTAINER</c>, <c>E2E_MAX_PROMPTS_PER_JOB</c>, <c>E2E_MAX_REQUEST_BODY_BYTES</c>
/// when the app's settings differ from the defaults. Skipped when <c>E2E_BASE_URL</c> is not set. The poison path is
/// not run against it: that needs a host without a model.
/// </summary>
public sealed class RunningHostFixture : HostFixture
{
    public override string Name => "running";

    protected override string? Unavailable() =>
        Setting("E2E_BASE_URL") is null ? "E2E_BASE_URL is not set (a host already running, e.g. a deployed app)" : null;

    protected override Task StartAsync()
    {
        var url = Setting("E2E_BASE_URL")!;
        BaseUrl = new Uri(url.EndsWith('/') ? url : url + "/");
        FunctionKey = Setting("E2E_FUNCTION_KEY");
        OpenAiKey = Setting("E2E_OPENAI_KEY");
        OpenAiModel = Setting("E2E_OPENAI_MODEL") ?? "flan-t5-small";
        StorageConnection = Setting("E2E_STORAGE_CONNECTION");
        QueueName = Setting("E2E_QUEUE") ?? "prompt-jobs";
        JobsContainerName = Setting("E2E_JOBS_CONTAINER") ?? "jobs";
        CompletionsContainerName = Setting("E2E_COMPLETIONS_CONTAINER") ?? "completions";
        MaxPromptsPerJob = int.Parse(Setting("E2E_MAX_PROMPTS_PER_JOB") ?? "64");
        MaxRequestBodyBytes = int.Parse(Setting("E2E_MAX_REQUEST_BODY_BYTES") ?? (256 * 1024).ToString());
        MaxCompletionPrompts = int.Parse(Setting("E2E_MAX_COMPLETION_PROMPTS") ?? "4");
        return Task.CompletedTask;
    }

    private static string? Setting(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } value ? value : null;
}

public sealed class RunningHostTests(RunningHostFixture host) : EndToEndTests<RunningHostFixture>(host), IClassFixture<RunningHostFixture>;
