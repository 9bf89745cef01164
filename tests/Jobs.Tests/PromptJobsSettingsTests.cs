using Microsoft.Extensions.Configuration;

namespace Serverless.Jobs.Tests;

/// <summary>The app settings of the job pipeline become its options once, each duration in the one unit its name says.</summary>
public sealed class PromptJobsSettingsTests
{
    private static PromptJobsOptions Read(params (string Key, string Value)[] settings) =>
        JobsServiceCollectionExtensions.ReadOptions(new ConfigurationBuilder()
            .AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value))).Build());

    [Fact]
    public void Each_duration_setting_is_read_in_the_unit_its_name_says()
    {
        var options = Read(
            ("Jobs:BatchWindowMs", "250"),
            ("Jobs:SubmitTokenizerWaitSeconds", "1.5"),
            ("Jobs:ModelRetryAfterSeconds", "7"),
            ("Jobs:CancelPollMilliseconds", "120"),
            ("Jobs:ProgressIntervalMilliseconds", "0"),
            ("Completions:TimeBudgetSeconds", "42"),
            ("Callbacks:TimeoutSeconds", "0.5"),
            ("Callbacks:RetryDelayMilliseconds", "30"));

        Assert.Equal(TimeSpan.FromMilliseconds(250), options.BatchWindow);
        Assert.Equal(TimeSpan.FromSeconds(1.5), options.SubmitTokenizerWait);
        Assert.Equal(TimeSpan.FromSeconds(7), options.ModelRetryAfter);
        Assert.Equal(TimeSpan.FromMilliseconds(120), options.CancelPollInterval);
        Assert.Equal(TimeSpan.Zero, options.ProgressInterval);
        Assert.Equal(TimeSpan.FromSeconds(42), options.Completions.TimeBudget);
        Assert.Equal(TimeSpan.FromSeconds(0.5), options.Callbacks.Timeout);
        Assert.Equal(TimeSpan.FromMilliseconds(30), options.Callbacks.RetryDelay);
    }

    [Fact]
    public void Settings_that_are_absent_or_empty_keep_the_documented_defaults()
    {
        var options = Read(("Jobs:BatchWindowMs", ""));

        Assert.Equal(TimeSpan.FromMilliseconds(5), options.BatchWindow);
        Assert.Equal(TimeSpan.FromSeconds(20), options.SubmitTokenizerWait);
        Assert.Equal(TimeSpan.FromSeconds(30), options.ModelRetryAfter);
        Assert.Equal(TimeSpan.FromMilliseconds(500), options.CancelPollInterval);
        Assert.Equal(TimeSpan.FromSeconds(1), options.ProgressInterval);
        Assert.Equal(TimeSpan.FromSeconds(120), options.Completions.TimeBudget);
        Assert.Equal(TimeSpan.FromSeconds(5), options.Callbacks.Timeout);
        Assert.Equal(TimeSpan.FromSeconds(1), options.Callbacks.RetryDelay);
    }

    [Theory]
    [InlineData("Jobs:BatchWindowMs", "0.5", "whole number of milliseconds")]
    [InlineData("Jobs:BatchWindowMs", "-1", "whole number of milliseconds")]
    [InlineData("Jobs:CancelPollMilliseconds", "10", "from 50")]
    [InlineData("Jobs:SubmitTokenizerWaitSeconds", "20s", "number of seconds")]
    [InlineData("Completions:TimeBudgetSeconds", "1e300", "number of seconds")]
    [InlineData("Callbacks:RetryDelayMilliseconds", "99999999999", "a day")]
    public void A_malformed_duration_names_the_setting_its_unit_and_the_value(string key, string value, string rule)
    {
        var e = Assert.Throws<FormatException>(() => Read((key, value)));

        Assert.Contains(key.Replace(":", "__", StringComparison.Ordinal), e.Message);
        Assert.Contains(rule, e.Message);
        Assert.Contains($"'{value}'", e.Message);
    }
}
