namespace Serverless.ModelStore;

/// <summary>
/// Base of every error the model store raises on purpose. <see cref="IsTransient"/> tells a caller (the job pipeline)
/// whether trying again later can help; the message says what to do. Messages carry SDK text and endpoints, so
/// secrets in them (keys, SAS signatures) are masked here, once for every kind.
/// </summary>
public abstract class ModelStoreException(string message, Exception? inner = null) : Exception(SecretMasker.Redact(message), inner)
{
    /// <summary>True when the same request may succeed later without anyone changing anything (network, throttling, a busy cache).</summary>
    public abstract bool IsTransient { get; }
}

/// <summary>The model container does not exist. Permanent until someone uploads the model.</summary>
public sealed class ModelContainerNotFoundException(string accountName, string containerName, Exception? inner = null)
    : ModelStoreException(
        $"The model container '{containerName}' does not exist in storage account '{accountName}'. " +
        $"Upload the model first: serverless model upload <export-dir> --container {containerName}", inner)
{
    public string AccountName { get; } = accountName;
    public string ContainerName { get; } = containerName;
    public override bool IsTransient => false;
}

/// <summary>A file the model needs is not in storage. Permanent until someone uploads it.</summary>
public sealed class ModelFileMissingException : ModelStoreException
{
    public ModelFileMissingException(string location, string missingPath, IReadOnlyList<string> found, Exception? inner = null)
        : base(
            $"The model file '{missingPath}' is missing from {location}. " +
            (found.Count == 0
                ? "Nothing was found under that prefix. "
                : $"Found under the prefix: {string.Join(", ", found)}. ") +
            "Upload a complete Optimum export (config.json, spiece.model, encoder_model.onnx and decoder_model_merged.onnx or " +
            "decoder_model.onnx + decoder_with_past_model.onnx, at the top or under onnx/) with: serverless model upload <export-dir>",
            inner)
    {
        MissingPath = missingPath;
        Found = found;
    }

    /// <summary>The full blob (or local) path that was expected.</summary>
    public string MissingPath { get; }
    /// <summary>What was found instead, relative to the prefix.</summary>
    public IReadOnlyList<string> Found { get; }
    public override bool IsTransient => false;
}

/// <summary>
/// A downloaded file does not match the manifest (hash or size). The bad copy has been deleted; the remote copy is
/// damaged or was replaced without a new manifest, so retrying will not help.
/// </summary>
public sealed class ModelChecksumMismatchException(string blobPath, string expected, string actual)
    : ModelStoreException(
        $"The model file '{blobPath}' does not match its manifest (expected {expected}, got {actual}); the downloaded copy was deleted. " +
        "Re-upload the model (serverless model upload <export-dir>) and check it with: serverless model verify")
{
    public string BlobPath { get; } = blobPath;
    public override bool IsTransient => false;
}

/// <summary>The manifest blob exists but cannot be read as a manifest.</summary>
public sealed class ModelManifestInvalidException(string blobPath, Exception? inner = null)
    : ModelStoreException(
        $"The model manifest '{blobPath}' is not a valid manifest. Re-upload the model with: serverless model upload <export-dir>", inner)
{
    public string BlobPath { get; } = blobPath;
    public override bool IsTransient => false;
}

/// <summary>Storage refused access (HTTP 403). Permanent until someone grants a role or fixes the credential.</summary>
public sealed class ModelAccessDeniedException(string accountName, string containerName, Exception? inner = null)
    : ModelStoreException(
        $"Access to container '{containerName}' in storage account '{accountName}' was denied. Grant this app's identity the " +
        "'Storage Blob Data Reader' role (or 'Storage Blob Data Owner' to upload) on the account or container, or fix the " +
        "connection string / SAS in the Model__Connection setting.", inner)
{
    public string AccountName { get; } = accountName;
    public string ContainerName { get; } = containerName;
    public override bool IsTransient => false;
}

/// <summary>
/// Storage rejected the request itself (HTTP 400 and other client errors such as InvalidResourceName): the same request
/// fails again until someone changes the container name, prefix or connection.
/// </summary>
public sealed class ModelStoreRequestRejectedException(string message, int status, string? errorCode, Exception? inner = null)
    : ModelStoreException(message, inner)
{
    public int Status { get; } = status;
    public string? ErrorCode { get; } = errorCode;
    public override bool IsTransient => false;
}

/// <summary>Storage could not be reached or failed after the SDK's bounded retries (network, 5xx, throttling, a blob changing mid-download).</summary>
public sealed class ModelStoreUnavailableException(string message, Exception? inner = null)
    : ModelStoreException(message + " This is usually temporary: try again later.", inner)
{
    public override bool IsTransient => true;
}

/// <summary>Another process held the cache folder's lock for longer than <see cref="ModelStoreOptions.CacheLockTimeout"/>.</summary>
public sealed class ModelCacheLockTimeoutException(string lockPath, TimeSpan waited)
    : ModelStoreException(
        $"Another process has held the model cache lock '{lockPath}' for more than {waited.TotalSeconds:0} s. " +
        "Wait for it to finish downloading, or point Model__CacheDirectory at a folder of your own.")
{
    public string LockPath { get; } = lockPath;
    public override bool IsTransient => true;
}
