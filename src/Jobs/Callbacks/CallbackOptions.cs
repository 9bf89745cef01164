namespace Serverless.Jobs.Callbacks;

/// <summary>Settings of the job callbacks (<c>Callbacks__*</c>).</summary>
public sealed class CallbackOptions
{
    /// <summary><c>Callbacks__Secret</c>: the HMAC-SHA256 key of <c>X-Signature-256</c>. Empty: this host refuses jobs
    /// that name a <c>callback_url</c> (an unsigned callback could not be told from a forged one). Never logged.</summary>
    public string Secret { get; set; } = "";

    /// <summary><c>Callbacks__MaxAttempts</c>: tries of one delivery (the first included).</summary>
    public int MaxAttempts { get; set; } = 3;

    /// <summary><c>Callbacks__TimeoutSeconds</c>: how long one try may take, connecting included.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary><c>Callbacks__RetryDelayMilliseconds</c>: the wait before the second try, doubled before each next one.</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest <c>callback_url</c> accepted, in characters.</summary>
    public const int MaxUrlLength = 2048;

    /// <summary>The host runs in the Development environment: a callback may then use http and private or loopback
    /// addresses. Elsewhere only https to public addresses (checked again, per address, when it connects).</summary>
    public bool Development { get; set; }

    public bool Enabled => Secret.Length > 0;
}
