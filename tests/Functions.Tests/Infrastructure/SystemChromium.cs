using Microsoft.Playwright;

namespace Serverless.Functions.Tests.Infrastructure;

/// <summary>
/// Debian's <c>chromium</c> (test.sh installs it), headless, driven by Playwright: Playwright's own browser download is
/// not reachable here, so it is pointed at the system browser (<c>CHROMIUM_PATH</c> overrides <c>/usr/bin/chromium</c>).
/// A missing browser fails the test with what to do; it never skips it.
/// </summary>
internal static class SystemChromium
{
    public static string ExecutablePath =>
        Environment.GetEnvironmentVariable("CHROMIUM_PATH") is { Length: > 0 } path ? path : "/usr/bin/chromium";

    public static async Task<(IPlaywright Playwright, IBrowser Browser)> LaunchAsync()
    {
        var path = ExecutablePath;
        Assert.True(File.Exists(path),
            $"Chromium is not at {path}: run ./test.sh (it installs Debian's chromium) or `apt-get install -y chromium`, or set CHROMIUM_PATH.");
        var playwright = await Playwright.CreateAsync();
        try
        {
            // --no-sandbox: the tests may run as root (CI does), where Chromium's sandbox refuses to start.
            var browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = path, Headless = true, Args = ["--no-sandbox"] });
            return (playwright, browser);
        }
        catch
        {
            playwright.Dispose();
            throw;
        }
    }

    /// <summary>Where screenshots are kept: <c>artifacts/playground/</c> at the repository root (gitignored).</summary>
    public static string ArtifactPath(string name)
    {
        var directory = Path.Combine(Paths.RepositoryRoot, "artifacts", "playground");
        Directory.CreateDirectory(directory);
        return Path.Combine(directory, name);
    }
}
