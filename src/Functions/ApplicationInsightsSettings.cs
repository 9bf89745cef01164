using Azure.Core;
using Azure.Identity;
using Microsoft.Extensions.Configuration;

namespace Serverless.Functions;

/// <summary>The Application Insights app settings the Functions host also reads, for the worker's own telemetry.</summary>
public static class ApplicationInsightsSettings
{
    public const string ConnectionStringSetting = "APPLICATIONINSIGHTS_CONNECTION_STRING";
    public const string AuthenticationStringSetting = "APPLICATIONINSIGHTS_AUTHENTICATION_STRING";

    public static string? ConnectionString(IConfiguration configuration) =>
        configuration[ConnectionStringSetting] is { Length: > 0 } value ? value : null;

    /// <summary>
    /// The credential for an <c>Authorization=AAD</c> authentication string (<c>ClientId=…;Authorization=AAD</c> for a
    /// user-assigned identity, or just <c>Authorization=AAD</c> for the system-assigned one); null without one.
    /// </summary>
    public static TokenCredential? Credential(IConfiguration configuration)
    {
        if (configuration[AuthenticationStringSetting] is not { Length: > 0 } text) return null;
        var parts = text.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(p => p.Split('=', 2, StringSplitOptions.TrimEntries))
            .Where(p => p.Length == 2)
            .ToDictionary(p => p[0], p => p[1], StringComparer.OrdinalIgnoreCase);
        if (!parts.TryGetValue("Authorization", out var authorization) || !authorization.Equals("AAD", StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidOperationException(
                $"{AuthenticationStringSetting} must be 'Authorization=AAD' or 'ClientId=<client id>;Authorization=AAD', not '{text}'.");
        }
        return new ManagedIdentityCredential(parts.TryGetValue("ClientId", out var clientId) && clientId.Length > 0
            ? ManagedIdentityId.FromUserAssignedClientId(clientId)
            : ManagedIdentityId.SystemAssigned);
    }
}
