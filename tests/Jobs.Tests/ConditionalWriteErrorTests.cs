using System.Net;
using System.Text;
using Azure;
using Azure.Core.Pipeline;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using Microsoft.Extensions.Logging.Abstractions;
using Serverless.Jobs.Storage;
using Serverless.Jobs.Tests.Infrastructure;

namespace Serverless.Jobs.Tests;

/// <summary>
/// Only "the condition was not met" (412 ConditionNotMet, 409 BlobAlreadyExists) means "someone else wrote first";
/// any other 409/412 is a real failure and must surface, not be retried as a lost race.
/// </summary>
public sealed class ConditionalWriteErrorTests
{
    [Fact]
    public async Task A_412_that_is_not_ConditionNotMet_surfaces_at_once()
    {
        await using var host = await JobsTestHost.CreateAsync();
        const string id = "leased-1";
        Assert.True(await host.Store.CreateAsync(JobRecord.Created(id, DateTimeOffset.UtcNow, "test"), CancellationToken.None));
        // A lease on the record: writes without the lease id answer 412 LeaseIdMissing, which no re-read can fix.
        var lease = host.Jobs.GetBlobClient($"{id}.json").GetBlobLeaseClient();
        await lease.AcquireAsync(TimeSpan.FromSeconds(60));
        try
        {
            var e = await Assert.ThrowsAsync<RequestFailedException>(() =>
                host.Store.UpdateAsync(id, r => r!.Started(DateTimeOffset.UtcNow, 1), CancellationToken.None));

            Assert.Equal(412, e.Status);
            Assert.Equal(BlobErrorCode.LeaseIdMissing.ToString(), e.ErrorCode);
        }
        finally
        {
            await lease.ReleaseAsync();
        }
    }

    [Theory]
    [InlineData("ContainerBeingDeleted")]
    [InlineData("OperationNotAllowedInCurrentState")]
    public async Task A_409_that_is_not_BlobAlreadyExists_surfaces(string errorCode)
    {
        // Storage answers every blob write with this 409 (a fake transport: Azurite cannot be made to).
        var handler = new ConflictHandler(errorCode);
        var options = new BlobClientOptions { Transport = new HttpClientTransport(new HttpClient(handler)) };
        options.Retry.MaxRetries = 0;
        var service = new BlobServiceClient(new Uri("http://127.0.0.1:1/devstoreaccount1"), options);
        var containers = TestStores.Containers(service, "jobs", "completions");
        var store = TestStores.Records(containers);

        var create = await Assert.ThrowsAsync<RequestFailedException>(() =>
            store.CreateAsync(JobRecord.Created("c1", DateTimeOffset.UtcNow, "test"), CancellationToken.None));
        Assert.Equal(errorCode, create.ErrorCode);
        var output = await Assert.ThrowsAsync<RequestFailedException>(() =>
            new JobOutputStore(containers).WriteAsync(new JobOutput("c1", DateTimeOffset.UtcNow, []), CancellationToken.None));
        Assert.Equal(errorCode, output.ErrorCode);
    }

    [Fact]
    public async Task Blob_already_exists_still_means_a_duplicate()
    {
        var handler = new ConflictHandler("BlobAlreadyExists");
        var options = new BlobClientOptions { Transport = new HttpClientTransport(new HttpClient(handler)) };
        options.Retry.MaxRetries = 0;
        var service = new BlobServiceClient(new Uri("http://127.0.0.1:1/devstoreaccount1"), options);
        var store = TestStores.Records(TestStores.Containers(service, "jobs", "completions"));

        Assert.False(await store.CreateAsync(JobRecord.Created("c1", DateTimeOffset.UtcNow, "test"), CancellationToken.None));
    }

    /// <summary>Containers "exist" (201), blob writes answer 409 with the given error code, blob reads 404.</summary>
    private sealed class ConflictHandler(string errorCode) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var isContainer = request.RequestUri!.Query.Contains("restype=container", StringComparison.Ordinal);
            if (isContainer) return Task.FromResult(new HttpResponseMessage(HttpStatusCode.Created) { Content = new StringContent("") });
            if (request.Method == HttpMethod.Get)
            {
                // The read-back after a create answered "already exists" (was it this create's own record?): gone again.
                var notFound = new HttpResponseMessage(HttpStatusCode.NotFound) { Content = new StringContent("") };
                notFound.Headers.Add("x-ms-error-code", "BlobNotFound");
                return Task.FromResult(notFound);
            }
            // As Azure answers: the code in a header and in the XML body.
            var response = new HttpResponseMessage(HttpStatusCode.Conflict)
            {
                Content = new StringContent($"<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>{errorCode}</Code><Message>conflict</Message></Error>", Encoding.UTF8, "application/xml"),
            };
            response.Headers.Add("x-ms-error-code", errorCode);
            return Task.FromResult(response);
        }
    }
}
