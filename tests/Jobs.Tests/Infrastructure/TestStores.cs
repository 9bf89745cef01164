using Azure.Storage.Blobs;
using Microsoft.Extensions.Logging.Abstractions;
using Serverless.Jobs.Storage;

namespace Serverless.Jobs.Tests.Infrastructure;

/// <summary>Job stores over clients a test builds itself (a counting pipeline, a fake transport).</summary>
internal static class TestStores
{
    public static JobContainers Containers(BlobServiceClient blobs, string jobs, string completions) =>
        new(blobs.GetBlobContainerClient(jobs), blobs.GetBlobContainerClient(completions));

    public static JobStore Records(JobContainers containers) =>
        new(containers, new JobTimeIndex(containers, NullLogger.Instance), NullLogger<JobStore>.Instance);
}
