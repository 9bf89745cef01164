using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Serverless.Jobs.Tests.Infrastructure;

/// <summary>One log call: its template values and the values of every scope open at the time.</summary>
internal sealed record LogEntry(string Category, LogLevel Level, string Message, IReadOnlyDictionary<string, object?> Values, IReadOnlyDictionary<string, object?> Scopes,
    Exception? Exception = null);

/// <summary>Keeps structured log entries (template values and scopes) for assertions.</summary>
internal sealed class CapturingLoggerProvider : ILoggerProvider
{
    private readonly AsyncLocal<ImmutableStack> _scopes = new();
    public ConcurrentQueue<LogEntry> Entries { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);
    public void Dispose() { }

    private sealed record ImmutableStack(IReadOnlyDictionary<string, object?> Values, ImmutableStack? Parent);

    private static IReadOnlyDictionary<string, object?> ToValues(object? state) =>
        state is IEnumerable<KeyValuePair<string, object?>> pairs
            ? pairs.GroupBy(p => p.Key).ToDictionary(g => g.Key, g => g.Last().Value)
            : state is IEnumerable<KeyValuePair<string, object>> objects
                ? objects.GroupBy(p => p.Key).ToDictionary(g => g.Key, g => (object?)g.Last().Value)
                : new Dictionary<string, object?>();

    private sealed class Logger(CapturingLoggerProvider owner, string category) : ILogger
    {
        public IDisposable BeginScope<TState>(TState state) where TState : notnull
        {
            var parent = owner._scopes.Value;
            owner._scopes.Value = new ImmutableStack(ToValues(state), parent);
            return new Pop(() => owner._scopes.Value = parent!);
        }

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var scopes = new Dictionary<string, object?>();
            for (var s = owner._scopes.Value; s is not null; s = s.Parent)
                foreach (var (k, v) in s.Values) scopes.TryAdd(k, v);
            owner.Entries.Enqueue(new LogEntry(category, logLevel, formatter(state, exception), ToValues(state), scopes, exception));
        }
    }

    private sealed class Pop(Action pop) : IDisposable
    {
        public void Dispose() => pop();
    }
}
