namespace Serverless.Jobs.Storage;

/// <summary>Runs an async initialisation once per process; a failed run is forgotten so the next caller retries it.</summary>
internal sealed class OnceAsync(Func<CancellationToken, Task> run)
{
    private readonly object _gate = new();
    private Task? _task;

    public Task RunAsync(CancellationToken cancellationToken)
    {
        Task task;
        lock (_gate)
        {
            if (_task is null || _task.IsFaulted || _task.IsCanceled)
                _task = run(CancellationToken.None); // not the caller's token: one cancelled request must not fail the others
            task = _task;
        }
        return task.WaitAsync(cancellationToken);
    }
}
