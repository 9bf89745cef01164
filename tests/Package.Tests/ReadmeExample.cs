using Microsoft.Extensions.AI;
using Serverless.Inference.Chat;
using Serverless.Inference.Generation;
using Serverless.Inference.Model;

namespace Serverless.Inference.PackageTests;

/// <summary>
/// The package README's example, compiled against the package: <see cref="ReadmeExampleTests"/> checks that the lines
/// between the markers are the README's code block (its usings included) and runs them.
/// </summary>
internal static class ReadmeExample
{
    public static async Task RunAsync()
    {
        // README begin
        using var model = T5Model.Load("models/demo");
        var options = model.DefaultGenerationOptions with { MaxNewTokens = 16 };
        var results = await model.GenerateAsync(["Translate to German: good morning"], options);
        Console.WriteLine(results[0].Text);
        await foreach (var piece in model.StreamAsync("Where is Ganymede?", options))
            Console.Write(piece);
        IChatClient chat = new T5ChatClient(model, new T5ChatClientOptions { ModelId = "demo" });
        var response = await chat.GetResponseAsync("Answer briefly: what is flan-T5?", new ChatOptions { MaxOutputTokens = 16 });
        Console.WriteLine($"{response.Text} ({response.Usage?.OutputTokenCount} tokens, {response.FinishReason})");
        // README end
    }
}
