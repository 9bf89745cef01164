using Microsoft.Extensions.DependencyInjection;

namespace Serverless.Jobs.Models;

public static class ModelWarmUpServiceCollectionExtensions
{
    /// <summary>
    /// Loads the model and the submit's tokenizer when the host starts instead of on first use (both hosts call it, after
    /// <c>AddPromptJobs</c>; docs/cold-start.md).
    /// </summary>
    public static IServiceCollection AddModelWarmUp(this IServiceCollection services) =>
        services.AddHostedService<ModelWarmUp>();
}
