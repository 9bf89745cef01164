using Serverless.ModelStore;

namespace Serverless.Cli;

/// <summary>
/// The CLI's one error style: <c>error: …</c> on standard error (secrets masked), exit code <see cref="Failure"/> when
/// something failed and <see cref="Usage"/> when the command line itself is wrong.
/// </summary>
internal static class CliExit
{
    public const int Success = 0;
    public const int Failure = 1;
    public const int Usage = 2;

    public static void WriteError(string message) => Console.Error.WriteLine("error: " + SecretMasker.Redact(message));

    public static int Fail(string message)
    {
        WriteError(message);
        return Failure;
    }

    public static int UsageError(string message)
    {
        WriteError(message);
        return Usage;
    }
}
