using Azure.Storage.Blobs;

namespace Serverless.ModelStore.Tests;

/// <summary>Container names follow Azure's rules and prefixes stay inside their container, in the API, the settings and the uploader.</summary>
public sealed class ModelStoreNamesTests
{
    [Theory]
    [InlineData("models")]
    [InlineData("abc")]
    [InlineData("a1-b2-c3")]
    [InlineData("0models")]
    [InlineData("a23456789012345678901234567890123456789012345678901234567890123")]
    public void Valid_container_names_pass(string name) => Assert.Null(ModelStoreNames.ContainerNameError(name));

    [Theory]
    [InlineData("", "is empty")]
    [InlineData("ab", "it has 2 characters")]
    [InlineData("a234567890123456789012345678901234567890123456789012345678901234", "it has 64 characters")]
    [InlineData("Bad_Name", "'B' is not allowed (uppercase)")]
    [InlineData("bad_name", "'_' is not allowed")]
    [InlineData("-models", "starts with a hyphen")]
    [InlineData("mo--dels", "two hyphens in a row")]
    [InlineData("models-", "ends with a hyphen")]
    [InlineData("../other", "'.' is not allowed")]
    public void Invalid_container_names_say_what_is_wrong_and_what_is_allowed(string name, string problem)
    {
        var error = ModelStoreNames.ContainerNameError(name);

        Assert.NotNull(error);
        Assert.Contains(problem, error, StringComparison.Ordinal);
        Assert.Contains("3-63 characters of lowercase letters, digits and hyphens", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("flan-t5-small/")]
    [InlineData("flan-t5-small")]
    [InlineData("flan-t5-small/v2/")]
    [InlineData("a.b/c_d/")]
    public void Valid_prefixes_pass(string prefix) => Assert.Null(ModelStoreNames.PrefixError(prefix));

    [Theory]
    [InlineData("../other/", "a '..' folder")]
    [InlineData("a/../../other/", "a '..' folder")]
    [InlineData("./m/", "a '.' folder")]
    [InlineData("/m/", "starts with '/'")]
    [InlineData("a\\b/", "backslash")]
    [InlineData("a//b/", "empty folder name")]
    [InlineData("a\nb/", "control character")]
    [InlineData("a./b/", "ends with '.'")]
    public void Invalid_prefixes_say_what_is_wrong_and_what_is_allowed(string prefix, string problem)
    {
        var error = ModelStoreNames.PrefixError(prefix);

        Assert.NotNull(error);
        Assert.Contains(problem, error, StringComparison.Ordinal);
        Assert.Contains("no '.' or '..' folders", error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_prefix_over_the_length_limit_is_refused() =>
        Assert.Contains("it has 513 characters", ModelStoreNames.PrefixError(new string('a', 512) + "/"));

    [Theory]
    [InlineData("Model__Container", "Bad_Name", "The container name 'Bad_Name' is not valid")]
    [InlineData("Model__Prefix", "../other/", "The model prefix '../other/' is not valid")]
    [InlineData("Model:Prefix", "/abs/", "The model prefix '/abs/' is not valid")]
    public void Bad_settings_name_the_setting(string key, string value, string message)
    {
        var e = Assert.Throws<FormatException>(() => ModelStorage.ReadOptions(k => k == key ? value : null));

        Assert.StartsWith($"Setting {key.Replace(":", "__")}: {message}", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_provider_refuses_options_with_a_prefix_leaving_the_container()
    {
        var container = new BlobServiceClient("UseDevelopmentStorage=true").GetBlobContainerClient("models");

        var e = Assert.Throws<ArgumentException>(() =>
            new ModelProvider<HashedModel>(container, new ModelStoreOptions { Prefix = "../other/" }, HashedModel.Load));

        Assert.Equal("Prefix", e.ParamName);
    }

    [Fact]
    public async Task Upload_with_a_prefix_leaving_its_container_writes_nothing_in_the_other_container()
    {
        await using var storage = new TestStorage();
        using var model = new FakeModel();
        var other = storage.Service.GetBlobContainerClient("ms-other-" + Guid.NewGuid().ToString("N")[..16]);
        await other.CreateIfNotExistsAsync(); // a unique name: "exists" only if a timed-out first try had in fact succeeded
        try
        {
            storage.Requests.Clear();
            var e = await Assert.ThrowsAsync<ArgumentException>(() => ModelUploader.UploadAsync(model.Directory, storage.Container, $"../{other.Name}/"));

            Assert.Equal("prefix", e.ParamName);
            Assert.Equal(0, storage.Requests.Count);
            Assert.Empty(await other.GetBlobsAsync().ToListAsync());
            Assert.False(await storage.Container.ExistsAsync());
        }
        finally
        {
            await other.DeleteIfExistsAsync();
        }
    }

    [Fact]
    public async Task Verify_with_a_prefix_leaving_its_container_sends_no_request()
    {
        await using var storage = new TestStorage();

        await Assert.ThrowsAsync<ArgumentException>(() => ModelUploader.VerifyAsync(storage.Container, "../other/"));

        Assert.Equal(0, storage.Requests.Count);
    }
}
