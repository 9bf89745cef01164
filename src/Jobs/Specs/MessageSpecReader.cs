using System.Text.Json;
using Serverless.Jobs.Messages;
using Serverless.Jobs.Storage;

namespace Serverless.Jobs.Specs;

/// <summary>The job spec a queue message carries: inline (a prompt, or a spec), or spilled to <see cref="JobInputStore"/>
/// by the submit; read as the submit reads it (<see cref="JobSpecReader"/>), with the same limits.</summary>
internal sealed class MessageSpecReader(JobInputStore inputs, PromptJobsOptions options)
{
    /// <returns>The spec, or the error the job fails with (a bad message, invalid parameters, a missing input).</returns>
    public async Task<(JobSpec? Spec, JobError? Error)> ReadAsync(ParsedMessage message, CancellationToken cancellationToken)
    {
        switch (message.Kind)
        {
            case MessageKind.Invalid:
                return (null, message.Error);
            case MessageKind.Prompt:
                return (new JobSpec(null, [message.Text], null, IsList: false), null);
            case MessageKind.SpecInBlob:
                {
                    var text = await inputs.ReadAsync(message.JobId, cancellationToken).ConfigureAwait(false);
                    if (text is null)
                        return (null, new JobError(JobErrorCodes.InvalidMessage, $"The message refers to the job input jobs/_inputs/{message.JobId}.json, which does not exist."));
                    try
                    {
                        using var document = JsonDocument.Parse(text);
                        return Validate(document.RootElement);
                    }
                    catch (JsonException e)
                    {
                        return (null, new JobError(JobErrorCodes.InvalidMessage, $"The job input jobs/_inputs/{message.JobId}.json is not valid JSON: {e.Message}"));
                    }
                }
            case MessageKind.Spec:
                return Validate(message.Json!.Value);
            default:
                throw new InvalidOperationException($"Unexpected message kind {message.Kind}.");
        }
    }

    private (JobSpec?, JobError?) Validate(JsonElement root)
    {
        var errors = new SpecErrors();
        var spec = JobSpecReader.Read(root, allowId: true, options.MaxPromptsPerJob, options.MaxNewTokensCeiling, errors);
        if (spec is not null) return (spec, null);
        var onlyParameters = errors.ToDictionary().Keys.All(k => k.StartsWith("parameters", StringComparison.Ordinal));
        return (null, new JobError(onlyParameters ? JobErrorCodes.InvalidParameters : JobErrorCodes.InvalidMessage, "The job spec is invalid: " + errors));
    }
}
