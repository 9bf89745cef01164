using Azure;
using Azure.Identity;
using Serverless.Cli.Commands;
using Serverless.Inference;
using Serverless.ModelStore;

namespace Serverless.Cli;

/// <summary>
/// Runs a command body and turns the failures a user can act on into one <c>error: …</c> line (no stack trace) that
/// names what this tool lets them change (<c>--connection</c>, <c>--key</c>, <c>--url</c>), never an app setting.
/// Exit <see cref="CliExit.Usage"/> for a bad value on the command line, <see cref="CliExit.Failure"/> for the rest.
/// </summary>
internal static class CommandGuard
{
    private const string ConnectionRemedy =
        "Fix the account key or SAS in --connection (default: $AzureWebJobsStorage), or pass a service URI and sign in " +
        "(az login) with an identity that holds the role";

    public static async Task<int> RunAsync(Func<Task<int>> body)
    {
        try
        {
            return await body();
        }
        catch (Exception e) when (Describe(e) is var (message, code))
        {
            var hint = LocalStorageHint(e, message);
            // Azurite that is not running will not come back by waiting: the hint replaces "try again later".
            CliExit.WriteError(hint.Length == 0 ? message : message.Replace(" This is usually temporary: try again later.", "", StringComparison.Ordinal) + hint);
            return code;
        }
    }

    /// <summary>The line to print and the exit code; null for exceptions nobody expects (the top level reports those).</summary>
    internal static (string Message, int Code)? Describe(Exception e) => e switch
    {
        // Bad --param, an unusable --connection: the command line is wrong.
        ArgumentException or FormatException or UriFormatException => (e.Message, CliExit.Usage),
        ModelAccessDeniedException d => (
            $"Access to container '{d.ContainerName}' in storage account '{d.AccountName}' was denied. {ConnectionRemedy} " +
            "'Storage Blob Data Owner' (upload) or 'Storage Blob Data Reader' on the account or container.", CliExit.Failure),
        ModelStoreException => (e.Message, CliExit.Failure),
        RequestFailedException { Status: 401 or 403 } r => (
            $"Storage refused the request (HTTP {r.Status} {r.ErrorCode}). {ConnectionRemedy} " +
            "(queues: 'Storage Queue Data Message Sender').", CliExit.Failure),
        RequestFailedException { Status: 0 } r => ($"Storage could not be reached: {FirstLine(r.Message)}", CliExit.Failure),
        RequestFailedException r => ($"Storage answered HTTP {r.Status} {r.ErrorCode}: {FirstLine(r.Message)}", CliExit.Failure),
        // The SDK's retry policy gives up with every attempt's failure: the last one says most.
        AggregateException { InnerExceptions.Count: > 0 } a => Describe(a.InnerExceptions[^1]) is { } inner
            ? (inner.Message + (a.InnerExceptions.Count > 1 ? $" (after {a.InnerExceptions.Count} attempts)" : ""), inner.Code)
            : null,
        AuthenticationFailedException or CredentialUnavailableException => (
            $"Azure sign-in failed: {FirstLine(e.Message)} Sign in with az login, or pass a connection string with --connection.", CliExit.Failure),
        HttpRequestException => ($"Could not reach the host: {e.Message} (check --url).", CliExit.Failure),
        JobClientException or TimeoutException or IOException or UnauthorizedAccessException or InvalidOperationException
            or InferenceException => (e.Message, CliExit.Failure),
        _ => null,
    };

    private static string FirstLine(string s) => s.Split('\n', 2)[0].Trim();

    /// <summary>Storage on this machine that does not answer is Azurite not running (the development default).</summary>
    private static string LocalStorageHint(Exception e, string message)
    {
        var unreachable = message.Contains("could not be reached", StringComparison.Ordinal) || message.Contains("Connection refused", StringComparison.Ordinal);
        var local = message.Contains("127.0.0.1", StringComparison.Ordinal) || message.Contains("localhost", StringComparison.OrdinalIgnoreCase);
        return unreachable && local && e is not HttpRequestException
            ? " Is Azurite running? Start it with: scripts/azurite.sh start (from the repository root)."
            : "";
    }
}
