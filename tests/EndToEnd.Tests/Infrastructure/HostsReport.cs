namespace Serverless.EndToEnd.Tests.Infrastructure;

/// <summary>
/// Tells test.sh which hosts ran and which were skipped (and why): one line per fixture appended to the file named by
/// <c>E2E_HOSTS_FILE</c>, when set.
/// </summary>
internal static class HostsReport
{
    private static readonly object Gate = new();

    public static void Ran(string host) => Append($"ran {host}");

    public static void Skipped(string host, string reason) => Append($"skipped {host}: {reason}");

    private static void Append(string line)
    {
        if (Environment.GetEnvironmentVariable("E2E_HOSTS_FILE") is not { Length: > 0 } path) return;
        lock (Gate) File.AppendAllText(path, line + Environment.NewLine);
    }
}
