using System.Diagnostics;

namespace Serverless.EndToEnd.Tests.Infrastructure;

/// <summary>
/// A host process in a process group of its own (<c>setsid</c>), its output in a log file. Stopping signals the whole
/// group, so the workers a host spawns (the Functions host starts the isolated worker as a child) stop with it.
/// </summary>
public sealed class HostProcess : IAsyncDisposable
{
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(15);
    private readonly Process _process;
    private readonly StreamWriter _log;

    private HostProcess(Process process, StreamWriter log, string logPath)
    {
        _process = process;
        _log = log;
        LogPath = logPath;
    }

    public string LogPath { get; }
    public int Id => _process.Id;
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;

    /// <param name="environment">Set for the process (a null value removes the variable).</param>
    public static HostProcess Start(string fileName, IEnumerable<string> arguments, IReadOnlyDictionary<string, string?> environment, string workingDirectory, string logPath)
    {
        // setsid execs the command in place (its parent is not a group leader): the pid is the command's and its group's.
        var start = new ProcessStartInfo("setsid")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(fileName);
        foreach (var a in arguments) start.ArgumentList.Add(a);
        foreach (var (name, value) in environment)
        {
            if (value is null) start.Environment.Remove(name);
            else start.Environment[name] = value;
        }

        var log = new StreamWriter(logPath) { AutoFlush = true };
        var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {fileName}.");
        process.StandardInput.Close();
        DataReceivedEventHandler write = (_, e) =>
        {
            if (e.Data is null) return;
            lock (log) log.WriteLine(e.Data);
        };
        process.OutputDataReceived += write;
        process.ErrorDataReceived += write;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new HostProcess(process, log, logPath);
    }

    /// <summary>The last lines of the log, for failure messages.</summary>
    public string Tail(int lines = 60)
    {
        lock (_log) _log.Flush();
        try
        {
            using var stream = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var reader = new StreamReader(stream);
            var all = reader.ReadToEnd().Split('\n');
            return string.Join('\n', all.TakeLast(lines));
        }
        catch (IOException e)
        {
            return $"(log {LogPath} unreadable: {e.Message})";
        }
    }

    /// <summary>TERM to the group, KILL to the group after a grace period; never throws.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited) await SignalGroupAsync("TERM");
            using (var wait = new CancellationTokenSource(StopGrace))
            {
                try { await _process.WaitForExitAsync(wait.Token); }
                catch (OperationCanceledException) { }
            }
            // Children may outlive the leader (or ignore TERM): the group goes either way.
            await SignalGroupAsync("KILL");
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // Already gone.
        }
        finally
        {
            _process.Dispose();
            lock (_log) _log.Dispose();
        }
    }

    private async Task SignalGroupAsync(string signal)
    {
        var kill = new ProcessStartInfo("kill") { RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-" + signal, "--", "-" + _process.Id }) kill.ArgumentList.Add(a);
        using var process = Process.Start(kill)!;
        await process.StandardError.ReadToEndAsync(); // "no such process" once the group is gone
        await process.WaitForExitAsync();
    }
}
