using System.Text.RegularExpressions;

namespace Serverless.ModelStore;

/// <summary>
/// Hides the secrets a storage connection can carry before text naming it is printed or logged: account keys and
/// shared access signatures in connection strings (<c>AccountKey=</c>, <c>SharedAccessKey=</c>,
/// <c>SharedAccessSignature=</c>) and the signature and key parameters of URLs (<c>sig=</c> of a SAS,
/// <c>code=</c> of a function key). What stays (account, endpoint, parameter names) is enough to tell connections apart.
/// </summary>
public static partial class SecretMasker
{
    /// <summary>What a hidden value is replaced with.</summary>
    public const string Mask = "***";

    /// <summary>
    /// <paramref name="text"/> with every secret value replaced by <see cref="Mask"/>; null stays null. Safe on any
    /// text (messages, URIs, whole connection strings): text without secrets comes back unchanged.
    /// </summary>
    public static string? Redact(string? text)
    {
        if (string.IsNullOrEmpty(text)) return text;
        // A SAS in a connection string runs to the next ';' and holds '&'-separated pairs: hide all of it.
        text = ConnectionStringSecret().Replace(text, m => m.Groups["name"].Value + "=" + Mask);
        return UrlSecret().Replace(text, m => m.Groups["lead"].Value + m.Groups["name"].Value + "=" + Mask);
    }

    [GeneratedRegex(@"(?<name>AccountKey|SharedAccessKey|SharedAccessSignature)\s*=\s*[^;\s""']*", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex ConnectionStringSecret();

    [GeneratedRegex(@"(?<lead>[?&;]|^)(?<name>sig|code|x-functions-key)=[^&;\s""'#]*", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant | RegexOptions.Multiline)]
    private static partial Regex UrlSecret();
}
