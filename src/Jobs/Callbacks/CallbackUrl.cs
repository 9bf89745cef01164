using System.Net;
using System.Net.Sockets;

namespace Serverless.Jobs.Callbacks;

/// <summary>What a <c>callback_url</c> may be: an absolute http(s) URL without credentials, at most
/// <see cref="CallbackOptions.MaxUrlLength"/> characters; outside Development https only, and never to a private,
/// loopback or link-local address (a literal address is checked here; a name is checked per address when it connects).</summary>
internal static class CallbackUrl
{
    /// <returns>Why the URL is refused, or null when it is accepted.</returns>
    public static string? Check(string text, CallbackOptions options)
    {
        if (!options.Enabled) return "Callbacks are not enabled on this host (no Callbacks__Secret to sign them with).";
        if (text.Length > CallbackOptions.MaxUrlLength) return $"Must be at most {CallbackOptions.MaxUrlLength} characters (got {text.Length}).";
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp))
            return "Must be an absolute https URL.";
        if (uri.UserInfo.Length > 0) return "Must not carry a user name or password.";
        if (options.Development) return null;
        if (uri.Scheme != Uri.UriSchemeHttps) return "Must be https (http is accepted only in the Development environment).";
        if (uri.IsLoopback || (IPAddress.TryParse(uri.IdnHost, out var address) && !IsPublic(address)))
            return "Must not point to a private, loopback or link-local address (accepted only in the Development environment).";
        return null;
    }

    /// <summary>Whether a callback may connect to this address outside Development.</summary>
    public static bool IsPublic(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        if (IPAddress.IsLoopback(address) || address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any) || address.Equals(IPAddress.Broadcast))
            return false;
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            var b = address.GetAddressBytes();
            return !(b[0] == 10 || b[0] == 0 || b[0] >= 224 ||
                (b[0] == 172 && b[1] >= 16 && b[1] <= 31) ||
                (b[0] == 192 && b[1] == 168) ||
                (b[0] == 169 && b[1] == 254) ||            // link-local, including the cloud metadata endpoint
                (b[0] == 100 && b[1] >= 64 && b[1] <= 127)); // carrier-grade NAT
        }
        var bytes = address.GetAddressBytes();
        return !(address.IsIPv6LinkLocal || address.IsIPv6SiteLocal || address.IsIPv6Multicast || (bytes[0] & 0xfe) == 0xfc); // fc00::/7 unique local
    }
}
