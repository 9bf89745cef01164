using System.Runtime.ExceptionServices;
using Microsoft.Azure.WebJobs;
using Microsoft.Azure.WebJobs.Host.Timers;
using Microsoft.Extensions.Hosting;
using Serverless.Functions;
using Serverless.Jobs;
using Serverless.Jobs.Failover;

namespace Serverless.LocalHost;

/// <summary>
/// Runs the WebJobs SDK host that fires the queue triggers (<see cref="QueueTriggers"/>), and restarts it when it fails.
/// </summary>
/// <remarks>
/// When storage is unreachable the queue extension's listener lets the storage client's exception escape, and the
/// SDK's default handler then ends the process. The Functions host instead restarts its job host; this does the same:
/// a WebJobs host per run, rebuilt a few seconds after a failure, sharing the web app's job services (one model in
/// memory) and configuration.
/// </remarks>
public sealed class QueueTriggerHost(IServiceProvider app, IConfiguration configuration, HostJsonQueueSettings queueSettings, ILogger<QueueTriggerHost> logger)
    : BackgroundService
{
    internal static readonly TimeSpan RestartDelay = TimeSpan.FromSeconds(3);
    // Running decodes may drain for Failover__DrainBudget, then hand their jobs back (a few storage writes each).
    private TimeSpan StopTimeout => app.GetRequiredService<FailoverOptions>().DrainBudget + TimeSpan.FromSeconds(10);

    /// <summary>Builds one WebJobs host; <paramref name="onFailure"/> is called when a listener or function times out
    /// or throws outside a function invocation.</summary>
    public IHost BuildJobHost(Action<Exception> onFailure) =>
        new HostBuilder()
            .UseContentRoot(AppContext.BaseDirectory)
            .ConfigureWebJobs(webJobs => webJobs.AddAzureStorageQueues(queueSettings.ApplyTo))
            // After ConfigureWebJobs, whose own sources (appsettings.json, environment) would otherwise win over the
            // web app's (local.settings.json, environment, command line).
            .ConfigureAppConfiguration(config =>
            {
                config.Sources.Clear();
                config.AddConfiguration(configuration);
            })
            .ConfigureServices(services =>
            {
                services.AddSingleton(app.GetRequiredService<ILoggerFactory>());
                services.AddSingleton(app.GetRequiredService<JobWorker>());
                services.AddSingleton(app.GetRequiredService<ShutdownDrain>());
                services.AddSingleton(app.GetRequiredService<PoisonJobHandler>());
                services.AddSingleton(app.GetRequiredService<Serverless.Jobs.Batches.BatchWorker>());
                services.AddTransient<ProcessJob>();
                services.AddTransient<FailPoisonedJob>();
                services.AddTransient<ProcessBatchWork>();
                services.AddTransient<FailPoisonedBatchWork>();
                services.AddSingleton<IWebJobsExceptionHandlerFactory>(new ReportingExceptionHandler(onFailure));
            })
            .Build();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var failed = new TaskCompletionSource<Exception>(TaskCreationOptions.RunContinuationsAsynchronously);
            IHost? host = null;
            try
            {
                host = BuildJobHost(e => failed.TrySetResult(e));
                await host.StartAsync(stoppingToken).ConfigureAwait(false);
                var failure = await failed.Task.WaitAsync(stoppingToken).ConfigureAwait(false);
                logger.LogError(failure, "The queue triggers stopped ({Reason}); restarting them in {Delay} s", Describe(failure), RestartDelay.TotalSeconds);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                // Shutting down.
            }
            catch (Exception e)
            {
                logger.LogError(e, "The queue triggers could not start ({Reason}); retrying in {Delay} s", Describe(e), RestartDelay.TotalSeconds);
            }
            finally
            {
                if (host is not null) await StopAsync(host).ConfigureAwait(false);
            }

            try
            {
                await Task.Delay(RestartDelay, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    private async Task StopAsync(IHost host)
    {
        try
        {
            using var timeout = new CancellationTokenSource(StopTimeout);
            await host.StopAsync(timeout.Token).ConfigureAwait(false);
            // Running jobs drain within Failover__DrainBudget and hand back what is left before the process may end.
            await app.GetRequiredService<ShutdownDrain>().WhenIdleAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "Stopping the queue triggers failed: {Reason}", Describe(e));
        }
        if (host is IAsyncDisposable asyncDisposable) await asyncDisposable.DisposeAsync().ConfigureAwait(false);
        else host.Dispose();
    }

    // Listener failures can quote the connection they could not use: never log its key.
    private static string Describe(Exception e) =>
        Serverless.ModelStore.SecretMasker.Redact((e is AggregateException { InnerExceptions.Count: > 0 } a ? a.InnerExceptions[0] : e).Message)!;

    /// <summary>Reports listener failures to the supervisor instead of ending the process.</summary>
    private sealed class ReportingExceptionHandler(Action<Exception> onFailure) : IWebJobsExceptionHandlerFactory, IWebJobsExceptionHandler
    {
        public IWebJobsExceptionHandler Create(IHost jobHost) => this;

        public void Initialize(JobHost host)
        {
        }

        public Task OnTimeoutExceptionAsync(ExceptionDispatchInfo exceptionInfo, TimeSpan timeoutGracePeriod)
        {
            onFailure(exceptionInfo.SourceException);
            return Task.CompletedTask;
        }

        public Task OnUnhandledExceptionAsync(ExceptionDispatchInfo exceptionInfo)
        {
            onFailure(exceptionInfo.SourceException);
            return Task.CompletedTask;
        }
    }
}
