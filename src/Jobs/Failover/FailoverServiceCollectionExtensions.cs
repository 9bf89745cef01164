using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Serverless.Jobs.Storage;

namespace Serverless.Jobs.Failover;

public static class FailoverServiceCollectionExtensions
{
    /// <summary>
    /// Registers failover (<see cref="FailoverOptions"/> from <c>Failover__*</c>): the heartbeat, the sweeper and the
    /// worker's ownership check, the shutdown drain. The host adds <see cref="AddJobFailoverService"/> to run the heartbeat and sweep loops.
    /// </summary>
    internal static IServiceCollection AddJobFailover(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<FailoverOptions>().Bind(configuration.GetSection(FailoverOptions.Section)).Validate(o =>
        {
            o.Validate();
            return true;
        }).ValidateOnStart();
        services.TryAddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<FailoverOptions>>().Value;
            if (string.IsNullOrEmpty(options.InstanceId)) options.InstanceId = DefaultInstanceId(configuration);
            return options;
        });
        services.TryAddSingleton(sp => new HeartbeatStore(sp.GetRequiredService<JobStore>().JobsContainer));
        services.TryAddSingleton(sp => new InstanceHeartbeat(sp.GetRequiredService<HeartbeatStore>(), sp.GetRequiredService<JobStore>(),
            sp.GetRequiredService<FailoverOptions>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<InstanceHeartbeat>>()));
        services.TryAddSingleton(sp => new JobOwnership(sp.GetRequiredService<JobStore>(), sp.GetRequiredService<HeartbeatStore>(), sp.GetRequiredService<InstanceHeartbeat>(),
            sp.GetRequiredService<FailoverSweeper>(), sp.GetRequiredService<FailoverOptions>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<JobOwnership>>()));
        services.TryAddSingleton(sp => new FailoverSweeper(sp.GetRequiredService<HeartbeatStore>(), sp.GetRequiredService<JobStore>(), sp.GetRequiredService<JobQueue>(),
            sp.GetRequiredService<Callbacks.JobCallbacks>(), sp.GetRequiredService<FailoverOptions>(), sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<FailoverSweeper>>(), sp.GetService<Batches.BatchQueue>()));
        services.TryAddSingleton(sp => new ShutdownDrain(sp.GetRequiredService<FailoverOptions>(),
            sp.GetService<IHostApplicationLifetime>()?.ApplicationStopping ?? CancellationToken.None, sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<ShutdownDrain>>()));
        return services;
    }

    /// <summary>Runs this instance's heartbeat and sweeps while the host is up (both hosts call it).</summary>
    public static IServiceCollection AddJobFailoverService(this IServiceCollection services) =>
        services.AddHostedService(sp => new FailoverService(sp.GetRequiredService<InstanceHeartbeat>(), sp.GetRequiredService<FailoverSweeper>(),
            sp.GetRequiredService<ShutdownDrain>(), sp.GetRequiredService<FailoverOptions>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<FailoverService>>()));

    /// <summary>Sweeps once (the Functions app's timer trigger).</summary>
    public static Task<int> SweepDeadInstancesAsync(this IServiceProvider services, CancellationToken cancellationToken) =>
        services.GetRequiredService<FailoverOptions>().Enabled
            ? services.GetRequiredService<FailoverSweeper>().SweepAsync(cancellationToken)
            : Task.FromResult(0);

    private static string DefaultInstanceId(IConfiguration configuration)
    {
        // A process restarted on the same machine is a new instance: what the old one held is handed back by a sweep.
        var platform = configuration["WEBSITE_INSTANCE_ID"] ?? configuration["CONTAINER_NAME"] ?? Environment.MachineName;
        var clean = new string(platform.Where(c => char.IsAsciiLetterOrDigit(c) || c == '-').Take(40).ToArray());
        return string.Create(CultureInfo.InvariantCulture, $"{clean}-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}");
    }
}
