using System.Text.Json.Nodes;

namespace Serverless.Infra.Tests;

[Collection(CompiledTemplateCollection.Name)]
public sealed class StorageAccountTests(CompiledTemplate compiled)
{
    [Fact]
    public void Account_accepts_only_entra_id_over_tls12_https()
    {
        var properties = compiled.Single("Microsoft.Storage/storageAccounts").Properties!;

        Assert.False(TemplateAssert.Literal<bool>(properties["allowSharedKeyAccess"], "allowSharedKeyAccess"));
        Assert.False(TemplateAssert.Literal<bool>(properties["allowBlobPublicAccess"], "allowBlobPublicAccess"));
        Assert.True(TemplateAssert.Literal<bool>(properties["supportsHttpsTrafficOnly"], "supportsHttpsTrafficOnly"));
        Assert.Equal("TLS1_2", TemplateAssert.Literal<string>(properties["minimumTlsVersion"], "minimumTlsVersion"));
    }

    [Fact]
    public void Containers_are_the_pipelines_plus_the_deployment_package()
    {
        var containers = compiled.OfType("Microsoft.Storage/storageAccounts/blobServices/containers");
        var names = containers.Select(c => c.ShortName).ToList();

        string[] pipeline = ["models", "jobs", "completions", "batch-files", "batches"];
        Assert.Equal(pipeline.Length + 1, names.Count);
        Assert.All(pipeline, name => Assert.Contains(name, names));
        // The last is the Flex deployment container, named from uniqueString at deploy time; it is the one
        // the function app's functionAppConfig points at (checked in FunctionAppTests).
        var deployment = Assert.Single(names.Except(pipeline));
        Assert.Contains("app-package-", deployment, StringComparison.Ordinal);
        Assert.All(containers, c => Assert.Equal("None", TemplateAssert.Literal<string>(c.Properties?["publicAccess"], $"{c.Name} publicAccess")));
    }

    [Fact]
    public void Queues_are_the_job_and_batch_queues_and_their_poison_queues()
    {
        var names = compiled.OfType("Microsoft.Storage/storageAccounts/queueServices/queues").Select(q => q.ShortName).Order().ToList();

        Assert.Equal(["batch-work", "batch-work-poison", "prompt-jobs", "prompt-jobs-poison"], names);
    }

    [Fact]
    public void Containers_and_queues_live_in_the_one_storage_account()
    {
        var account = compiled.Single("Microsoft.Storage/storageAccounts").Name;
        var children = compiled.OfType("Microsoft.Storage/storageAccounts/blobServices/containers")
            .Concat(compiled.OfType("Microsoft.Storage/storageAccounts/queueServices/queues"));

        Assert.All(children, c => Assert.StartsWith(account + "/default/", c.Name, StringComparison.Ordinal));
    }
}
