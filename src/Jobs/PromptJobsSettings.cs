using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace Serverless.Jobs;

/// <summary>
/// The app settings behind <see cref="PromptJobsOptions"/>: their names, units and rules, read once when the options are
/// built. The names are the Functions-style flat ones the deployment sets (<c>Jobs__BatchWindowMs</c> is the
/// configuration key <c>Jobs:BatchWindowMs</c>); a duration's name says its one unit and its value becomes a
/// <see cref="TimeSpan"/>. A setting that is present but malformed throws naming it and its rule, so the host stops at
/// start (ValidateOnStart) instead of failing every request as if the trouble were transient.
/// </summary>
public static class PromptJobsSettings
{
    /// <summary>The longest duration any of these settings takes: a day (timers take at most ~24.8 days).</summary>
    private static readonly TimeSpan LongestDuration = TimeSpan.FromDays(1);

    /// <summary>Reads every setting into <paramref name="options"/>; absent or empty ones keep the option's default.</summary>
    public static void Bind(IConfiguration configuration, PromptJobsOptions options)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(options);
        // The poison queue's name is this one plus "-poison": keep room for it within Azure's 63 characters.
        options.QueueName = StorageName(configuration, "PromptJobsQueue", options.QueueName, "queue", 63 - "-poison".Length);
        options.JobsContainer = StorageName(configuration, "JobsContainer", options.JobsContainer, "blob container", 63);
        options.CompletionsContainer = StorageName(configuration, "CompletionsContainer", options.CompletionsContainer, "blob container", 63);
        options.MaxPromptsPerJob = Int(configuration, "Jobs:MaxPromptsPerJob", options.MaxPromptsPerJob, 1);
        options.MaxRequestBodyBytes = Int(configuration, "Jobs:MaxRequestBodyBytes", options.MaxRequestBodyBytes, 1024);
        options.BatchSize = Int(configuration, "Jobs:BatchSize", options.BatchSize, 1);
        options.DynamicBatching = Bool(configuration, "Jobs:DynamicBatching", options.DynamicBatching);
        options.BatchWindow = Milliseconds(configuration, "Jobs:BatchWindowMs", options.BatchWindow, TimeSpan.Zero);
        options.RetryAfterSeconds = Int(configuration, "Jobs:RetryAfterSeconds", options.RetryAfterSeconds, 1);
        options.MaxInlineMessageBytes = Int(configuration, "Jobs:MaxInlineMessageBytes", options.MaxInlineMessageBytes, 256);
        options.SubmitTokenizerWait = Seconds(configuration, "Jobs:SubmitTokenizerWaitSeconds", options.SubmitTokenizerWait);
        options.ModelRetryAfter = Seconds(configuration, "Jobs:ModelRetryAfterSeconds", options.ModelRetryAfter);
        options.CancelPollInterval = Milliseconds(configuration, "Jobs:CancelPollMilliseconds", options.CancelPollInterval, TimeSpan.FromMilliseconds(50));
        options.ProgressInterval = Milliseconds(configuration, "Jobs:ProgressIntervalMilliseconds", options.ProgressInterval, TimeSpan.Zero);
        options.MaxNewTokensCeiling = Int(configuration, "Inference:MaxNewTokensCeiling", options.MaxNewTokensCeiling, 1);
        options.Completions.MaxPrompts = Int(configuration, "Completions:MaxPrompts", options.Completions.MaxPrompts, 1);
        options.Completions.MaxNewTokens = Int(configuration, "Completions:MaxNewTokens", options.Completions.MaxNewTokens, 1);
        options.Completions.MaxRequestBodyBytes = Int(configuration, "Completions:MaxRequestBodyBytes", options.Completions.MaxRequestBodyBytes, 1024);
        options.Completions.TimeBudget = Seconds(configuration, "Completions:TimeBudgetSeconds", options.Completions.TimeBudget);
        options.Completions.MaxConcurrent = Int(configuration, "Completions:MaxConcurrent", options.Completions.MaxConcurrent, 1);
        options.Callbacks.Secret = configuration["Callbacks:Secret"] ?? "";
        options.Callbacks.MaxAttempts = Int(configuration, "Callbacks:MaxAttempts", options.Callbacks.MaxAttempts, 1);
        options.Callbacks.Timeout = Seconds(configuration, "Callbacks:TimeoutSeconds", options.Callbacks.Timeout);
        options.Callbacks.RetryDelay = Milliseconds(configuration, "Callbacks:RetryDelayMilliseconds", options.Callbacks.RetryDelay, TimeSpan.Zero);
        options.Telemetry.IncludeText = Bool(configuration, "Telemetry:IncludeText", options.Telemetry.IncludeText);
    }

    /// <summary>
    /// A queue or container name as Azure Storage accepts it: 3 to <paramref name="maxLength"/> lowercase letters, digits
    /// or hyphens, starting and ending with a letter or digit, no two hyphens in a row. Storage would refuse any other
    /// name on every call (400 InvalidResourceName), so it is a configuration error, reported once at start-up.
    /// </summary>
    private static string StorageName(IConfiguration configuration, string key, string fallback, string kind, int maxLength)
    {
        var text = configuration[key];
        if (string.IsNullOrEmpty(text)) return fallback;
        var valid = text.Length >= 3 && text.Length <= maxLength && char.IsAsciiLetterOrDigit(text[0]) && char.IsAsciiLetterOrDigit(text[^1]) &&
            !text.Contains("--", StringComparison.Ordinal) && text.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-');
        return valid
            ? text
            : throw new FormatException($"Setting {key} must be a {kind} name of 3 to {maxLength} lowercase letters, digits or hyphens, " +
                $"starting and ending with a letter or digit, with no two hyphens in a row (Azure Storage's rule), not '{text}'.");
    }

    internal static int Int(IConfiguration configuration, string key, int fallback, int min)
    {
        var text = configuration[key];
        if (string.IsNullOrWhiteSpace(text)) return fallback;
        return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value >= min
            ? value
            : throw new FormatException($"Setting {Name(key)} must be an integer of at least {min}, not '{text}'.");
    }

    internal static bool Bool(IConfiguration configuration, string key, bool fallback)
    {
        var text = configuration[key];
        if (string.IsNullOrWhiteSpace(text)) return fallback;
        return bool.TryParse(text.Trim(), out var value)
            ? value
            : throw new FormatException($"Setting {Name(key)} must be true or false, not '{text}'.");
    }

    /// <summary>A whole number of milliseconds, from <paramref name="min"/> to a day.</summary>
    private static TimeSpan Milliseconds(IConfiguration configuration, string key, TimeSpan fallback, TimeSpan min)
    {
        var text = configuration[key];
        if (string.IsNullOrWhiteSpace(text)) return fallback;
        return long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) &&
               value >= min.TotalMilliseconds && value <= LongestDuration.TotalMilliseconds
            ? TimeSpan.FromMilliseconds(value)
            : throw new FormatException($"Setting {Name(key)} must be a whole number of milliseconds from {min.TotalMilliseconds:0} to " +
                $"{LongestDuration.TotalMilliseconds:0} (a day), not '{text}'.");
    }

    /// <summary>A number of seconds (fractions allowed), from 0 to a day.</summary>
    private static TimeSpan Seconds(IConfiguration configuration, string key, TimeSpan fallback)
    {
        var text = configuration[key];
        if (string.IsNullOrWhiteSpace(text)) return fallback;
        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value >= 0 && value <= LongestDuration.TotalSeconds
            ? TimeSpan.FromSeconds(value)
            : throw new FormatException($"Setting {Name(key)} must be a number of seconds from 0 to {LongestDuration.TotalSeconds:0} (a day), not '{text}'.");
    }

    /// <summary>The app setting's name as it is set (<c>Jobs__BatchWindowMs</c>) for the configuration key <c>Jobs:BatchWindowMs</c>.</summary>
    private static string Name(string key) => key.Replace(":", "__", StringComparison.Ordinal);
}
