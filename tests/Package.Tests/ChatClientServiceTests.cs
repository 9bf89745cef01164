using Microsoft.Extensions.AI;
using Microsoft.ML.Tokenizers;
using Serverless.Inference.Chat;
using Serverless.Inference.Model;
using Serverless.Inference.Tokenization;

namespace Serverless.Inference.PackageTests;

/// <summary>T5ChatClient.GetService: the metadata Microsoft.Extensions.AI expects, and the engine behind the client.</summary>
[Collection(DemoModelCollection.Name)]
public sealed class ChatClientServiceTests(DemoModelFixture demo)
{
    [Fact]
    public void The_metadata_names_the_provider_and_the_model_folder()
    {
        var metadata = demo.Client.GetService<ChatClientMetadata>();

        Assert.NotNull(metadata);
        Assert.Equal("serverless-inference", metadata.ProviderName);
        Assert.Equal("demo", metadata.DefaultModelId);
    }

    [Fact]
    public void The_engine_s_model_and_tokenizer_are_services_of_the_client()
    {
        IChatClient client = demo.Client;

        Assert.Same(demo.Model, client.GetService<T5Model>());
        Assert.Same(demo.Model.Tokenizer, client.GetService<T5Tokenizer>());
        Assert.Same(demo.Model.Tokenizer, client.GetService<Tokenizer>());
        Assert.Same(client, client.GetService<IChatClient>());
        Assert.Null(client.GetService<T5Model>(serviceKey: "other"));
        Assert.Null(client.GetService<string>());
    }

    [Fact]
    public async Task A_client_over_a_loaded_model_is_named_as_told_and_leaves_the_model_to_its_owner()
    {
        var client = new T5ChatClient(demo.Model, new T5ChatClientOptions { ModelId = "flan-t5-demo" });
        client.Dispose();

        var response = await demo.Client.GetResponseAsync("Where is Ganymede?", new ChatOptions { MaxOutputTokens = 2 });
        Assert.Equal("flan-t5-demo", client.Metadata.DefaultModelId);
        Assert.Equal(2, response.Usage?.OutputTokenCount);
    }
}
