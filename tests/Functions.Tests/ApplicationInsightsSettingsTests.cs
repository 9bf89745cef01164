using Azure.Identity;
using Microsoft.Extensions.Configuration;

namespace Serverless.Functions.Tests;

/// <summary>The worker's Application Insights wiring reads the same two app settings as the host (infra sets both).</summary>
public sealed class ApplicationInsightsSettingsTests
{
    private static IConfiguration Settings(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value))).Build();

    [Fact]
    public void Without_a_connection_string_telemetry_is_off()
    {
        // Application Insights 3.x fails the host's start without a connection string: `func start` must not need one.
        Assert.Null(ApplicationInsightsSettings.ConnectionString(Settings()));
        Assert.Null(ApplicationInsightsSettings.ConnectionString(Settings(("APPLICATIONINSIGHTS_CONNECTION_STRING", ""))));
        Assert.Equal("InstrumentationKey=x", ApplicationInsightsSettings.ConnectionString(Settings(("APPLICATIONINSIGHTS_CONNECTION_STRING", "InstrumentationKey=x"))));
    }

    [Fact]
    public void The_aad_authentication_string_becomes_a_managed_identity_credential()
    {
        Assert.Null(ApplicationInsightsSettings.Credential(Settings()));
        Assert.IsType<ManagedIdentityCredential>(ApplicationInsightsSettings.Credential(
            Settings(("APPLICATIONINSIGHTS_AUTHENTICATION_STRING", "ClientId=00000000-0000-0000-0000-000000000001;Authorization=AAD"))));
        Assert.IsType<ManagedIdentityCredential>(ApplicationInsightsSettings.Credential(
            Settings(("APPLICATIONINSIGHTS_AUTHENTICATION_STRING", "Authorization=AAD"))));
    }

    [Fact]
    public void A_malformed_authentication_string_is_an_error_naming_the_setting()
    {
        var e = Assert.Throws<InvalidOperationException>(() => ApplicationInsightsSettings.Credential(
            Settings(("APPLICATIONINSIGHTS_AUTHENTICATION_STRING", "ClientId=abc"))));
        Assert.Contains("APPLICATIONINSIGHTS_AUTHENTICATION_STRING", e.Message);
    }
}
